-- MCP conformance fixture (tools-call-simple-text): a tool that answers text.
return "This is a simple text response for testing."
