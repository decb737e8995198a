-- MCP conformance fixture (tools-call-error): a spell that fails, which an
-- MCP client sees as a tool result with isError: true.
error("This tool intentionally returns an error for testing")
