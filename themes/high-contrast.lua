-- themes/high-contrast.lua - bright colours on black, bold everywhere it helps.
return {
  text = "bright-white on black", dim = "white on black",
  status = "black on bright-yellow bold", hint = "black on bright-white bold",
  border = "bright-white on black", title = "bright-yellow on black bold",
  focus = "black on bright-yellow bold", selected = "black on bright-white bold",
  good = "bright-green on black bold", bad = "bright-red on black bold",
  line = "bright-yellow on black bold", points = "bright-cyan on black bold",
  axis = "bright-white on black",
  cell_input = "bright-green on black bold", cell_op = "bright-white on black bold",
  cell_combiner = "bright-yellow on black bold", cell_output = "bright-magenta on black bold",
  cell_edge = "bright-white on black", cell_title = "bright-cyan on black bold",
  log_info = "bright-white on black", log_warn = "bright-yellow on black bold",
  log_error = "bright-red on black bold", log_command = "bright-cyan on black bold",
  prompt = "bright-green on black bold", overlay = "black on bright-white bold",
}
