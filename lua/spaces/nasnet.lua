-- spaces/nasnet.lua - the NASNet search space (Zoph et al. 2018), the
-- default space of every experiment.
--
-- A cell has B = 5 blocks.  Each block picks two inputs (h_{i-1}, h_i, or
-- the output of an earlier block of the same cell), one op for each input
-- from the 13 below, and a combiner that merges the two results.  The
-- controller picks a normal cell (keeps the resolution) and a reduction
-- cell (halves it) this way: 2 x 5B = 50 decisions per architecture.
--
--   local nasnet = require "spaces.nasnet"
--   cellar.experiment{ space = nasnet, ... }   -- or space = "nasnet"
--
-- A smaller space is a copy with fewer ops, for instance:
--   cellar.space{ name = "small", ops = { "identity", "sep_conv_3x3",
--                 "max_pool_3x3" }, combiners = { "add" } }

return cellar.space{
  name = "nasnet",
  ops = {
    "identity",
    "conv_1x3_3x1",   -- 1x3 then 3x1 convolution
    "conv_1x7_7x1",   -- 1x7 then 7x1 convolution
    "dil_conv_3x3",   -- 3x3 dilated (rate 2) separable convolution
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",   -- depthwise-separable, applied twice
    "sep_conv_5x5",
    "sep_conv_7x7",
  },
  combiners = { "add", "concat" },   -- element-wise sum, channel concatenation
  B = 5,         -- blocks per cell
  inputs = 2,    -- a block may read h_{i-1} and h_i (the two previous cells)
}
