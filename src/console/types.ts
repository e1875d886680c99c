/**
 * The shapes the console reads, typed from the gateway's own schemas (type imports only: nothing
 * of the server reaches the bundle), so a change to a route's schema fails the console's typecheck.
 */
import type { Static } from "typebox";
import type { EventEnvelope } from "../schemas/envelope.js";
import type { EventTypeInfo } from "../schemas/event-type.js";
import type { DeadLetterPage } from "../schemas/pages.js";
import type { Replay } from "../schemas/replay.js";
import type { Delivery, DeadLetter, RedeliverResult, Subscriber } from "../schemas/subscriber.js";

export type { DeadLetterPage, EventEnvelope, EventTypeInfo, Replay, Subscriber };
export type DeadLetterRow = Static<typeof DeadLetter>;
export type Redelivered = Static<typeof RedeliverResult>;

export interface StoredEvent {
  stream_message_id: string;
  event: EventEnvelope;
}
export interface EventPage {
  events: StoredEvent[];
  next: string | null;
}
/** `GET /v1/events/{stream_message_id}`: the entry and the subscribers that delivered or dead-lettered it. */
export interface EventDetail extends StoredEvent {
  deliveries: { subscriber: string; outcome: string; processed_at: string }[];
}

/** One attempt of the delivery log (`event_type` is null on attempts logged before it was recorded). */
export type Attempt = Static<typeof Delivery> & { event_type?: string | null };
export interface AttemptPage {
  deliveries: Attempt[];
  next?: string | null;
}

/** One minute of a subscriber's attempts (`GET /v1/subscribers/{name}/activity`). */
export interface ActivityMinute {
  minute: string;
  delivered: number;
  retry: number;
  dead_lettered: number;
  p50_ms: number | null;
  p99_ms: number | null;
}
export interface SubscriberActivity {
  from: string;
  to: string;
  minutes: ActivityMinute[];
}
export interface SubscribersActivity {
  from: string;
  to: string;
  subscribers: { name: string; minutes: ActivityMinute[] }[];
}
export interface TypeVolume {
  from: string;
  to: string;
  types: { type: string; total: number; minutes: { minute: string; count: number }[] }[];
}
export interface BulkRedelivered {
  results: { stream_message_id: string; outcome?: string; status_code?: number | null; error?: string | null }[];
}
