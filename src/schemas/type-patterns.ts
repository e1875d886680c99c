/**
 * What a subscriber's `event_types` entry matches (docs/CONTRACT.md §3): an exact type, a prefix
 * pattern ending in `.*` or `:*` (`mission.*` matches `mission.created` and `mission.step.done`,
 * not `mission` itself), or `*` for every type. The most specific entry wins: exact, then the
 * longest prefix, then `*`.
 */

/** A pattern's literal prefix, or null when it is an exact type or `*`. */
export function prefixOf(pattern: string): string | null {
  return pattern.length > 1 && pattern.endsWith("*") ? pattern.slice(0, -1) : null;
}

/** Maps event types to what their best-matching pattern carries. Own keys only: `valueOf` is a type, not a member. */
export class TypeMatcher<T> {
  private readonly exact = new Map<string, T>();
  /** Longest first, so the first hit is the most specific. */
  private readonly prefixes: [string, T][] = [];
  private readonly any: T | undefined;

  constructor(entries: Iterable<readonly [string, T]>) {
    let any: T | undefined;
    for (const [pattern, value] of entries) {
      const prefix = prefixOf(pattern);
      if (pattern === "*") any = value;
      else if (prefix === null) this.exact.set(pattern, value);
      else this.prefixes.push([prefix, value]);
    }
    this.prefixes.sort((a, b) => b[0].length - a[0].length);
    this.any = any;
  }

  match(type: string): T | undefined {
    const exact = this.exact.get(type);
    if (exact !== undefined) return exact;
    for (const [prefix, value] of this.prefixes) if (type.startsWith(prefix)) return value;
    return this.any;
  }
}
