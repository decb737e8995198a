-- CPU-heavy Lua for the benchmark: the same file runs under native
-- `lua5.4` and `spellhost run`. Recursion, tables, sorting, strings,
-- closures; about a second natively on the reference machine.

local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

local function sieve(limit)
  local composite, count = {}, 0
  for i = 2, limit do
    if not composite[i] then
      count = count + 1
      for j = i * i, limit, i do composite[j] = true end
    end
  end
  return count
end

local function strings(n)
  local parts = {}
  for i = 1, n do
    parts[#parts + 1] = string.format("%05d:%s", i, ("x"):rep(i % 7))
  end
  local joined = table.concat(parts, ",")
  local count = 0
  for _ in joined:gmatch("%d+:x+") do count = count + 1 end
  return count
end

local function sorting(n)
  local t, seed = {}, 42
  for i = 1, n do
    seed = (seed * 1103515245 + 12345) % 2147483648
    t[i] = { key = seed, name = "item" .. i }
  end
  table.sort(t, function(a, b) return a.key < b.key end)
  return t[1].key
end

local result = {
  fib = fib(30),
  primes = sieve(2000000),
  strings = strings(200000),
  sorted = sorting(200000),
}
return ("fib=%d primes=%d strings=%d first=%d"):format(result.fib, result.primes, result.strings, result.sorted)
