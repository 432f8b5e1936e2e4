-- themes/default.lua - for a dark terminal.  Each element of the screen
-- gets "fg on bg" and attributes (bold, underline, reverse, dim); colours
-- are black red green yellow blue magenta cyan white, bright-NAME, 0..255
-- or default.  cellar --theme NAME, or the t key, picks a theme.
return {
  text = "default", dim = "bright-black",
  status = "white on blue bold", hint = "black on cyan",
  border = "bright-black", title = "cyan bold", focus = "bright-yellow bold",
  selected = "black on yellow",
  good = "green bold", bad = "red",
  line = "bright-yellow", points = "cyan", axis = "bright-black",
  cell_input = "bright-green bold", cell_op = "bright-white", cell_combiner = "yellow",
  cell_output = "bright-magenta bold", cell_edge = "bright-black", cell_title = "cyan bold",
  log_info = "default", log_warn = "yellow", log_error = "bright-red bold",
  log_command = "bright-cyan", prompt = "bright-green bold", overlay = "black on white",
}
