// "Did you mean": the closest hook names to a misspelt one (Damerau-Levenshtein with adjacent swaps,
// plus a bonus for names that contain what was typed, since people often type part of a hook name).

export function editDistance(a: string, b: string, limit = Infinity): number {
  const n = a.length;
  const m = b.length;
  if (Math.abs(n - m) > limit) return limit + 1;
  let prev2 = new Array<number>(m + 1).fill(0);
  let prev = Array.from({ length: m + 1 }, (_, j) => j);
  let cur = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    cur[0] = i;
    let rowMin = cur[0];
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2] + 1);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > limit) return limit + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[m];
}

/** Letter counts (a-z, digits and _ folded into one bucket) for a cheap lower bound of the edit distance. */
function histogram(s: string): Int16Array {
  const h = new Int16Array(27);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 97;
    h[c >= 0 && c < 26 ? c : 26]++;
  }
  return h;
}

/**
 * Each edit changes the letter counts by at most one up and one down (a swap by none), so the larger
 * of the total surplus and the total deficit is a lower bound of the distance.
 */
function histogramBound(a: Int16Array, b: Int16Array): number {
  let more = 0;
  let less = 0;
  for (let i = 0; i < 27; i++) {
    const d = a[i] - b[i];
    if (d > 0) more += d;
    else less -= d;
  }
  return Math.max(more, less);
}

/** Up to `max` names close to `typed`, best first; empty when nothing is plausibly meant. */
export function suggestHooks(typed: string, names: Iterable<string>, max = 3): string[] {
  if (!typed) return [];
  const limit = Math.max(2, Math.floor(typed.length / 3));
  const scored: Array<[number, string]> = [];
  const typedHist = histogram(typed);
  for (const name of names) {
    const contains = typed.length >= 4 && name.includes(typed);
    if (!contains && histogramBound(typedHist, histogram(name)) > limit) continue;
    let d = editDistance(typed, name, limit);
    if (contains) d = Math.min(d, 1 + (name.length - typed.length) / 100);
    if (d <= limit) scored.push([d, name]);
  }
  scored.sort((x, y) => x[0] - y[0] || x[1].length - y[1].length || (x[1] < y[1] ? -1 : 1));
  return scored.slice(0, max).map((s) => s[1]);
}
