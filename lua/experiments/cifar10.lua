-- experiments/cifar10.lua - a CIFAR-10 search with the paper's search
-- proxy (Zoph et al. 2018): N = 2, 20 epochs per child, PPO updating every
-- 20 architectures.  This is for a GPU machine: each trial trains a
-- network for 20 epochs over 45,000 images, hours of work per trial on
-- a CPU.
--
--   CELLAR_CIFAR_DIR=/data/cifar-10-batches-bin cellar run cifar10
--
-- CELLAR_CIFAR_DIR is the directory of the CIFAR-10 binary version
-- (data_batch_1.bin ... data_batch_5.bin, test_batch.bin).  Small children
-- leave most of a large GPU idle, so several train at once (parallel = 0:
-- as many as its memory holds, at most 8; --parallel K to choose).

local dir = os.getenv("CELLAR_CIFAR_DIR")
if not dir or dir == "" then
  error("set CELLAR_CIFAR_DIR to the directory of the CIFAR-10 " ..
        "binary version (data_batch_1.bin ... test_batch.bin)", 0)
end

cellar.experiment{
  name = "cifar10",
  dataset = "cifar10:" .. dir,
  train_images = 45000,   -- the paper's split of the 50,000 training images:
  val_images = 5000,      -- 5,000 held out, their accuracy is the reward

  space = "nasnet",

  child = {
    N = 2,             -- the search proxy: 2 normal cells per stage ...
    F = 16,            -- ... and few filters, so a child trains in minutes on a GPU
    epochs = 20,
    batch = 64,
    lr = cellar.cosine(0.05, 0),          -- cosine decay over each child's training
    drop_path = cellar.linear(0, 0.2),    -- ScheduledDropPath: rises linearly from 0
    momentum = 0.9,
    weight_decay = 3e-4,
    augment = true,    -- pad 4, random crop, horizontal flip
  },

  strategy = cellar.ppo{
    lr = 0.00035,
    entropy_weight = 1e-5,
    batch = 20,        -- one controller update per 20 trained children
  },

  budget = 2000,       -- the paper's search ran for days on 500 GPUs: scale to yours
  seed = 1,
  parallel = 0,        -- trials at once: as many as fit
}
