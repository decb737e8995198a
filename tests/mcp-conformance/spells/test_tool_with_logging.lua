-- MCP conformance fixture (tools-call-with-logging): the spell's log lines
-- reach the client as notifications/message while it runs.
log.info("Tool execution started")
sleep(0.05)
log.info("Tool processing data")
sleep(0.05)
log.info("Tool execution completed")
return "Logged three messages."
