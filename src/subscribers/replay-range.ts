/**
 * A replay request's `from`/`to` turned into one inclusive stream-id range per partition, and
 * the check that none of it was trimmed already. Pure: the caller reads the streams' bounds.
 *
 * A time applies to every partition (ids start with their append time in ms, so one time is
 * the same moment everywhere); a stream id with a partition prefix limits the replay to that
 * partition. `to` absent is each partition's newest id at creation, so a replay always ends.
 */
import { errors, withDetails, type ErrorDetail } from "../errors.js";
import type { ReplayRange } from "../db/replays.js";
import { compareIds, nextId, parseQualifiedId, qualifyId } from "../stream/ids.js";
import type { StreamBounds } from "../stream/entries.js";

const MAX_SEQ = "18446744073709551615";

type Bound = { kind: "id"; partition: number | null; id: string } | { kind: "time"; ms: number };

function invalid(path: string, message: string): Error {
  return withDetails(new errors.InvalidRequest(`body${path} ${message}`), [{ path, message }]);
}

/** Parses `from` or `to` (already checked against the schema: a stream id or an RFC 3339 time). */
export function parseBound(text: string, partitions: number, path: string): Bound {
  if (/^([0-9]+:)?[0-9]+-[0-9]+$/.test(text)) {
    const found = parseQualifiedId(partitions, text);
    if (found === null) {
      const shape =
        partitions === 1 ? "`<ms>-<seq>` (one partition)" : `\`<partition>:<ms>-<seq>\`, partition below ${partitions}`;
      throw invalid(path, `is not a stream id of this stream: ids look like ${shape}`);
    }
    return { kind: "id", partition: partitions === 1 ? null : found.partition, id: found.id };
  }
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw invalid(path, "is not a valid RFC 3339 time");
  // No entry is older than 1970: an earlier time means "from the beginning".
  return { kind: "time", ms: Math.max(0, ms) };
}

const startOf = (b: Bound) => (b.kind === "id" ? b.id : `${b.ms}-0`);
const endOf = (b: Bound) => (b.kind === "id" ? b.id : `${b.ms}-${MAX_SEQ}`);

/** The partitions a replay covers: the one a partition-prefixed id names, else all of them. */
export function scopeOf(from: Bound, to: Bound | null, partitions: number): number[] {
  const named = [from, to].flatMap((b) => (b?.kind === "id" && b.partition !== null ? [b.partition] : []));
  if (named.length === 2 && named[0] !== named[1]) {
    throw invalid("/to", "names another partition than `from`: a replay by stream id covers one partition");
  }
  return named.length > 0 ? [named[0]!] : Array.from({ length: partitions }, (_, i) => i);
}

/** The range of each covered partition; 400 when an explicit `to` comes before `from`. */
export function resolveRanges(
  from: Bound,
  to: Bound | null,
  scope: number[],
  bounds: Map<number, StreamBounds>,
): ReplayRange[] {
  const start = startOf(from);
  if (to !== null && compareIds(start, endOf(to)) > 0) throw invalid("/to", "is before `from`");
  return scope.map((partition) => ({
    partition,
    start,
    end: to === null ? bounds.get(partition)!.lastId : endOf(to),
    position: null,
  }));
}

/**
 * 409 REPLAY_RANGE_TRIMMED when a range reaches below what its partition still stores: the
 * answer names, per partition, the oldest entry still kept (or that none is), so the operator
 * can ask again from there. A range that starts after the newest entry loses nothing.
 */
export function assertStored(ranges: ReplayRange[], bounds: Map<number, StreamBounds>, partitions: number): void {
  const details: ErrorDetail[] = [];
  for (const r of ranges) {
    const b = bounds.get(r.partition)!;
    if (!b.trimmed || compareIds(r.start, r.end) > 0) continue;
    const keptFrom = b.firstKept ?? nextId(b.lastId);
    if (compareIds(r.start, keptFrom) >= 0) continue;
    const where = partitions === 1 ? "" : `partition ${r.partition}: `;
    details.push({
      path: "/from",
      message:
        b.firstKept === null
          ? `${where}every entry up to ${qualifyId(partitions, r.partition, b.lastId)} has been trimmed; none is kept`
          : `${where}entries before ${qualifyId(partitions, r.partition, b.firstKept)} have been trimmed; ` +
            `the oldest entry still kept is ${qualifyId(partitions, r.partition, b.firstKept)}`,
    });
  }
  if (details.length === 0) return;
  const message = `part of the range is no longer stored (trimmed): ${details[0]!.message}`;
  throw withDetails(new errors.ReplayRangeTrimmed(message), details);
}
