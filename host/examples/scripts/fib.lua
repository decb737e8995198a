-- Call-heavy Lua for the benchmark: recursive fib(30), three times. The
-- same file runs under native `lua5.4` and `spellhost run`.
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

local total = 0
for _ = 1, 3 do total = total + fib(30) end
local out = tostring(total)
if arg then print(out) end -- native lua5.4; spellhost prints the result
return out
