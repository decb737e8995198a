-- MCP conformance fixture (tools-call-with-progress): a spell reports its own
-- progress with events on topic `progress`; spellhost mcp sends them as
-- notifications/progress to a call that has a progress token.
Event.emit("progress", { progress = 0, total = 100 })
sleep(0.05)
Event.emit("progress", { progress = 50, total = 100, message = "half way" })
sleep(0.05)
Event.emit("progress", { progress = 100, total = 100 })
return "Reported progress 0, 50 and 100 of 100."
