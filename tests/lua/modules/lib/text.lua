local M = { loads = 0 }
M.loads = M.loads + 1
function M.plural(n, word) return n .. " " .. word .. (n == 1 and "" or "s") end
return M
