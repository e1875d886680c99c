/** Arithmetic on Redis stream ids (`<ms>-<seq>`), which do not compare as strings or as numbers. */

/** Compares two stream ids: by their millisecond part, then by their sequence number. */
export function compareIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

/** The smallest id greater than `id` (`5-3` → `5-4`): XTRIM MINID keeps ids from it on. */
export function nextId(id: string): string {
  const [ms = "0", seq = "0"] = id.split("-");
  return `${ms}-${BigInt(seq) + 1n}`;
}
