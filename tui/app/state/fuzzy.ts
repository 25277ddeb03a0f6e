// Fuzzy matching for the finder: the query's characters in order anywhere in the text (as fzf
// does), scored so that consecutive matches, matches after a separator and shorter texts win.

/** The score of `text` for `query` (higher is better), or null when it does not match. */
export function fuzzyScore (query: string, text: string): number | null {
  if (query === '') return 0
  const q = query.toLowerCase()
  const t = text.toLowerCase()
  let score = 0
  let at = -1
  for (const ch of q) {
    const next = t.indexOf(ch, at + 1)
    if (next < 0) return null
    score += next === at + 1 ? 3 : 1
    if (next === 0 || '/._-'.includes(t[next - 1]!)) score += 2
    at = next
  }
  return score * 100 - text.length
}

/** The texts that match, best first (ties keep their order). */
export function fuzzyFilter (query: string, texts: readonly string[]): string[] {
  return texts.map((text, i) => ({ text, i, s: fuzzyScore(query, text) }))
    .filter((x): x is { text: string, i: number, s: number } => x.s !== null)
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .map(x => x.text)
}
