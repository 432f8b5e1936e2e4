-- themes/light.lua - for a light terminal background.
return {
  text = "black", dim = "bright-black",
  status = "white on blue bold", hint = "black on bright-cyan",
  border = "bright-black", title = "blue bold", focus = "magenta bold",
  selected = "white on blue",
  good = "green bold", bad = "red bold",
  line = "blue bold", points = "magenta", axis = "bright-black",
  cell_input = "green bold", cell_op = "black", cell_combiner = "blue",
  cell_output = "magenta bold", cell_edge = "bright-black", cell_title = "blue bold",
  log_info = "black", log_warn = "magenta", log_error = "red bold",
  log_command = "blue", prompt = "green bold", overlay = "white on black",
}
