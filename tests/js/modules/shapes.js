import { plural } from "./lib/text.js";
const names = { 3: "triangle", 4: "square" };
export const describe = (sides) => `a ${names[sides] ?? "polygon"} (${plural(sides, "side")})`;
