/**
 * The shapes the console reads, typed from the gateway's own schemas (type imports only: nothing
 * of the server reaches the bundle), so a change to a route's schema fails the console's typecheck.
 */
import type { Static } from "typebox";
import type { ActivityMinute, SubscriberActivity, SubscribersActivity } from "../schemas/delivery-activity.js";
import type { EventDetail, TypeVolume } from "../schemas/event-browse.js";
import type { EventEnvelope } from "../schemas/envelope.js";
import type { EventTypeInfo } from "../schemas/event-type.js";
import type { DeadLetterPage } from "../schemas/pages.js";
import type { Replay } from "../schemas/replay.js";
import type {
  BulkRedeliverResult,
  DeadLetter,
  Delivery,
  DeliveryList,
  RedeliverResult,
  Subscriber,
} from "../schemas/subscriber.js";

export type {
  ActivityMinute,
  BulkRedeliverResult,
  DeadLetterPage,
  EventDetail,
  EventEnvelope,
  EventTypeInfo,
  Replay,
  Subscriber,
  SubscriberActivity,
  SubscribersActivity,
  TypeVolume,
};
export type DeadLetterRow = Static<typeof DeadLetter>;
export type Redelivered = Static<typeof RedeliverResult>;
export type Attempt = Static<typeof Delivery>;
export type AttemptPage = Static<typeof DeliveryList>;

export interface StoredEvent {
  stream_message_id: string;
  event: EventEnvelope;
}
export interface EventPage {
  events: StoredEvent[];
  next: string | null;
}
