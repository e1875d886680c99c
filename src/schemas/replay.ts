import { Type, type Static } from "typebox";
import { StreamId } from "./common.js";
import { EventTypePattern } from "./subscriber.js";

/**
 * An RFC 3339 time. The pattern bounds it before the format check runs: a four-digit year
 * (no year 99999), at most nanosecond fractions, an offset or Z.
 */
const Time = Type.String({
  format: "date-time",
  pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
  maxLength: 40,
  examples: ["2026-11-30T12:00:00Z"],
});

const Bound = (what: string) =>
  Type.Union([StreamId, Time], {
    description:
      `${what}, inclusive: a stream id, or an RFC 3339 time (millisecond precision). A time applies to every ` +
      "partition; with BRAIN_STREAM_PARTITIONS > 1 a stream id carries its partition (`<p>:<ms>-<seq>`) and " +
      "limits the replay to that partition",
  });

export const MAX_PER_SECOND_DEFAULT = 50;

export const CreateReplay = Type.Object(
  {
    from: Bound("where the replay starts"),
    to: Type.Optional(Bound("where it ends (default: the newest entry at creation, so a replay always ends)")),
    event_types: Type.Optional(
      Type.Array(EventTypePattern, {
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
        description:
          "only entries of these types (exact, `prefix.*` or `*`), among those the subscriber wants; default: every " +
          "type the subscriber wants",
      }),
    ),
    max_per_second: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        description: `requests per second at most (default ${MAX_PER_SECOND_DEFAULT})`,
      }),
    ),
  },
  { $id: "CreateReplay", additionalProperties: false },
);
export type CreateReplay = Static<typeof CreateReplay>;

const Timestamp = Type.String({ format: "date-time" });
const Count = Type.Integer({ minimum: 0 });

export const Replay = Type.Object(
  {
    id: Type.String({ format: "uuid", description: "sent as `x-brain-replay` with each request" }),
    subscriber: Type.String(),
    state: Type.Union(
      [
        Type.Literal("pending"),
        Type.Literal("running"),
        Type.Literal("completed"),
        Type.Literal("cancelled"),
        Type.Literal("failed"),
      ],
      {
        description:
          "`pending` until a dispatcher takes it; `running` (also while its subscriber is disabled: it waits); " +
          "`completed`, `cancelled` or `failed` (see `error`) once finished",
      },
    ),
    from: Type.String(),
    to: Type.Union([Type.String(), Type.Null()], { description: "null: the newest entry at creation" }),
    event_types: Type.Union([Type.Array(Type.String()), Type.Null()], {
      description: "null: every type the subscriber wants",
    }),
    max_per_second: Type.Integer(),
    total: Type.Union([Count, Type.Null()], {
      description: "entries in the range the replay sends; null until a dispatcher has counted them",
    }),
    sent: Type.Integer({ minimum: 0, description: "entries sent (each counted once, whatever its retries)" }),
    delivered: Type.Integer({ minimum: 0, description: "entries answered 2xx" }),
    failed: Type.Integer({ minimum: 0, description: "entries that got no 2xx within the replay's attempts" }),
    error: Type.Union([Type.String(), Type.Null()], { description: "why a `failed` replay stopped" }),
    ranges: Type.Array(
      Type.Object({
        partition: Type.Integer({ minimum: 0 }),
        from: Type.String(),
        to: Type.String(),
        position: Type.Union([Type.String(), Type.Null()], {
          description: "the last entry done in this partition (saved after each chunk); null before the first",
        }),
      }),
      { description: "the range in each partition it covers, stream ids inclusive" },
    ),
    created_at: Timestamp,
    started_at: Type.Union([Timestamp, Type.Null()]),
    finished_at: Type.Union([Timestamp, Type.Null()]),
  },
  { $id: "Replay", description: "A re-send of a range of the stream to one subscriber." },
);
export type Replay = Static<typeof Replay>;

export const ReplayList = Type.Object(
  { replays: Type.Array(Type.Unsafe<Replay>(Type.Ref("Replay"))) },
  { $id: "ReplayList", description: "A subscriber's replays, newest first." },
);

export const REPLAY_COMPONENTS = [CreateReplay, Replay, ReplayList];
