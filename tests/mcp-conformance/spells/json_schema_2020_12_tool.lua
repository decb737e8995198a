-- MCP conformance fixture (json-schema-2020-12): the input schema in the
-- manifest beside this file reaches the client as written.
local input = ...
return input
