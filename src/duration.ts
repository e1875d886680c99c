const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses one duration such as `500ms`, `5s`, `30m` or `2h` into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration (use a whole number with ms, s, m or h)`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** Parses a comma-separated schedule such as `5s,5m,30m` into milliseconds. */
export function parseDurationList(text: string): number[] {
  return text.split(",").map(parseDuration);
}
