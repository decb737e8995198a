-- Several LLM calls in flight at once through coroutines.
local questions = { "a", "b", "c", "d" }
local answers = parallel.map(questions, function(q)
  return llm.ask(q)
end)
assert(#answers == 4 and answers[1] == "echo: a" and answers[4] == "echo: d", json.encode(answers))

local x, y = parallel(
  function() return llm.ask("x") end,
  function()
    -- nested: a task may itself fan out
    local p, q = parallel(function() return llm.ask("y1") end, function() return llm.ask("y2") end)
    return p .. "+" .. q
  end
)
assert(x == "echo: x" and y == "echo: y1+echo: y2", tostring(x) .. " " .. tostring(y))

-- sleep waits in the host; other tasks run meanwhile.
local order = {}
parallel(
  function() sleep(0.06); order[#order + 1] = "slow" end,
  function() sleep(0.01); order[#order + 1] = "fast" end
)
assert(table.concat(order, ",") == "fast,slow", table.concat(order, ","))
local ok0, e0 = pcall(sleep, -1)
assert(not ok0 and e0.kind == "invalid", tostring(e0))

-- Yielding by hand inside a task is an error, not a lost task.
local y_ok, y_err = pcall(parallel, function() coroutine.yield(1) end)
assert(not y_ok and y_err.kind == "invalid" and y_err.message:find("coroutine.yield", 1, true), tostring(y_err))
-- An LLM call inside a C callback (table.sort) blocks instead of failing.
local sorted = { "b", "a" }
parallel(function()
  table.sort(sorted, function(p, q) return llm.ask(p) < llm.ask(q) end)
end)
assert(sorted[1] == "a", table.concat(sorted, ","))

-- The first error is raised; the other calls are cancelled.
local ok, err = pcall(parallel, function() return llm.ask("please fail 401") end, function() return llm.ask("fine") end)
assert(not ok and err.kind == "auth", tostring(err))
return "ok"
