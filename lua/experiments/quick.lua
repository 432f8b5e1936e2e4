-- experiments/quick.lua - the default experiment: a small PPO search on
-- Fashion-MNIST, meant to finish in about ten minutes on two CPU cores.
--
--   cellar run quick        a progress line on a terminal, the log otherwise
--   cellar show quick.db    the leaderboard, during or after the search
--
-- Every trial samples a cell from the NASNet space, trains a small
-- network built from it for one short epoch, and takes its accuracy on
-- held-out images as the reward from which the controller learns.  The
-- numbers are small on purpose: rewards of such short training are noisy,
-- so this is a demonstration of the machinery, not a search that finds
-- good cells.  Copy this file and scale it up (cifar10.lua shows the
-- paper's settings for a GPU).

cellar.experiment{
  name = "quick",

  -- Debian's dataset-fashion-mnist, read from /usr/share/datasets/fashion-mnist
  -- ("fashion-mnist:DIR" reads the idx files of another directory).
  dataset = "fashion-mnist",
  train_images = 4000,   -- each child trains on these training images ...
  val_images = 1000,     -- ... and is scored on these, held out from the training set

  -- all 13 ops, add and concat, B = 5 (see lua/spaces/nasnet.lua)
  space = "nasnet",

  -- How each sampled cell is turned into a network and trained.
  child = {
    N = 1,          -- normal cells per stage: 3 normal + 2 reduction cells in all
    F = 8,          -- filters of the first stage (doubled at each reduction)
    epochs = 1,     -- one pass over the 4000 training images: 125 steps
    batch = 32,
    lr = cellar.cosine(0.05, 0),   -- SGD learning rate, cosine decay to 0 over the epoch
    momentum = 0.9,
    weight_decay = 3e-4,
    -- drop_path (ScheduledDropPath) is left off: one epoch is too short for it
  },

  -- The controller: a one-layer LSTM trained with PPO on the rewards.  It
  -- learns after every `batch` trials; 10 (rather than the paper's 20)
  -- gives it six updates within this short budget.  At the paper's
  -- learning rate six updates hardly move it: watch the entropy in the
  -- log, and raise lr (say 0.005) to see it commit within a short search
  -- (c in the screen, or `cellar show quick.db --policy`, shows which of
  -- its decisions it has settled).
  strategy = cellar.ppo{
    lr = 0.00035,            -- the paper's controller learning rate
    entropy_weight = 1e-5,   -- the paper's entropy penalty
    batch = 10,
  },

  budget = 60,   -- trials (trained children) before the search ends
  seed = 1,      -- the split, the children's initialisation and the controller's sampling
}
