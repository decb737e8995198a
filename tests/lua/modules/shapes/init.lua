local text = require("lib.text")
local names = { [3] = "triangle", [4] = "square" }
return {
  describe = function(sides)
    return "a " .. (names[sides] or "polygon") .. " (" .. text.plural(sides, "side") .. ")"
  end,
}
