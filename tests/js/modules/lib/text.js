let count = 0;
count += 1;
export const loads = () => count;
export function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }
