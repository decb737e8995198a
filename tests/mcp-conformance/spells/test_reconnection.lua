-- MCP conformance fixture (server-sse-polling): a call that takes a moment.
-- spellhost mcp keeps a call's SSE stream open until the result (it never
-- closes one early to make the client poll), so the suite's resume path
-- after a reconnection is not exercised here; rmcp's session store serves
-- a client that does reconnect with Last-Event-ID.
sleep(0.1)
return "Reconnection test completed successfully"
