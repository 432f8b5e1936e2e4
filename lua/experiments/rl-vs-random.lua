-- experiments/rl-vs-random.lua - the paper's comparison at small scale:
-- the same search run once by the PPO controller and once by random
-- search, with the same budget, seed, data, space and child training
-- (Zoph et al. 2018 found RL about 1% ahead among the top models).
--
--   cellar run rl-vs-random    runs "ppo", then "random", one journal each
--
-- Compare the two journals by the mean reward of the top 5 or top 10
-- trials as the trials accumulate (cellar.trials{ ranked = true,
-- order = "reward", top = 10 } from a hook or the console gives the
-- current leaders; `cellar run` ends with such a table of both arms).
-- With this budget the difference is within the noise of one-epoch
-- rewards; the value of the file is that both arms are identical but for
-- the strategy, so it scales up by changing `budget` and `child` alone.

-- everything but the strategy, shared by both arms
local function arm(name, strategy)
  return cellar.experiment{
    name = name,
    dataset = "fashion-mnist",
    train_images = 2000,
    val_images = 1000,
    space = "nasnet",
    child = {
      N = 1,
      F = 8,
      epochs = 1,
      batch = 32,
      lr = cellar.cosine(0.05, 0),
      momentum = 0.9,
      weight_decay = 3e-4,
    },
    strategy = strategy,
    budget = 100,
    seed = 1,
  }
end

-- PPO with the paper's entropy penalty (1e-5) and batch of 20 (five
-- updates in this budget).  Its learning rate is scaled up for the small
-- scale: the paper's 0.00035 served some 20,000 children; over five
-- updates it leaves the controller practically uniform, i.e. random search.
arm("ppo", cellar.ppo{ lr = 0.005, entropy_weight = 1e-5, batch = 20 })

-- uniform choices at every decision: the baseline RL must beat
arm("random", cellar.random{})
