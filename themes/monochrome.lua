-- themes/monochrome.lua - no colours, only bold, underline, reverse and dim
-- (what the screen uses when NO_COLOR is set).
return {
  text = "default", dim = "dim",
  status = "reverse", hint = "reverse",
  border = "default", title = "bold", focus = "bold reverse", selected = "reverse",
  good = "bold", bad = "underline",
  line = "bold", points = "default", axis = "default",
  cell_input = "bold", cell_op = "default", cell_combiner = "underline",
  cell_output = "bold underline", cell_edge = "default", cell_title = "bold",
  log_info = "default", log_warn = "bold", log_error = "bold underline",
  log_command = "bold", prompt = "bold", overlay = "reverse",
}
