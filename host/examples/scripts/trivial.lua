return "hi"
