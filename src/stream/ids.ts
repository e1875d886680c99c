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

/**
 * A stream id is unique only inside its partition, so with more than one partition every id the
 * gateway shows or stores (webhook-id, dedup key, dead letters, cursors, the attempt log) is
 * `<partition>:<ms>-<seq>`. With one partition it stays the bare id: existing ids keep their meaning.
 */
export interface PartitionedId {
  partition: number;
  id: string;
}

/** The id as shown and stored: bare with one partition, `<partition>:<id>` otherwise. */
export function qualifyId(partitions: number, partition: number, id: string): string {
  return partitions === 1 ? id : `${partition}:${id}`;
}

/**
 * Splits an id as shown back into partition and stream id; null when it does not fit this
 * deployment (a bare id with several partitions, a partition prefix with one, a partition out of range).
 */
export function parseQualifiedId(partitions: number, text: string): PartitionedId | null {
  const colon = text.indexOf(":");
  if (partitions === 1) return colon < 0 ? { partition: 0, id: text } : null;
  if (colon < 0) return null;
  const prefix = text.slice(0, colon);
  if (!/^(0|[1-9][0-9]{0,3})$/.test(prefix) || Number(prefix) >= partitions) return null;
  return { partition: Number(prefix), id: text.slice(colon + 1) };
}
