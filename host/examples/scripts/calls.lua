-- Closures and method calls on tables for the benchmark: what most real
-- scripts do. The same file runs under native `lua5.4` and `spellhost run`.
local Vec = {}
Vec.__index = Vec
function Vec.new(x, y) return setmetatable({ x = x, y = y }, Vec) end
function Vec:add(o) return Vec.new(self.x + o.x, self.y + o.y) end
function Vec:dot(o) return self.x * o.x + self.y * o.y end

local function counter()
  local n = 0
  return function(step) n = n + step; return n end
end

local acc, sum = Vec.new(0, 0), 0
local count = counter()
for i = 1, 1500000 do
  local v = Vec.new(i % 7, i % 11)
  acc = acc:add(v)
  sum = sum + v:dot(acc) % 13
  count(1)
end
local out = string.format("%d %d %d", acc.x, sum, count(0))
if arg then print(out) end
return out
