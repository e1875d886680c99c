import { Type, type Static } from "typebox";
import { SubscriberName } from "./subscriber.js";

const Timestamp = Type.String({ format: "date-time" });
const Latency = Type.Union([Type.Integer(), Type.Null()]);

/** Most minutes one subscriber's activity covers (a day). */
export const MAX_ACTIVITY_MINUTES = 1440;
/** Most minutes the every-subscriber view covers: its answer grows with subscribers × minutes. */
export const MAX_ALL_ACTIVITY_MINUTES = 60;

export const ActivityMinute = Type.Object(
  {
    minute: Timestamp,
    delivered: Type.Integer({ description: "attempts answered 2xx" }),
    retry: Type.Integer({ description: "attempts that failed transiently and were scheduled again" }),
    dead_lettered: Type.Integer({ description: "attempts that ended in a dead letter" }),
    p50_ms: { ...Latency, description: "median duration of the minute's attempts (all outcomes); null when none" },
    p99_ms: { ...Latency, description: "99th percentile duration of the minute's attempts; null when none" },
  },
  { $id: "ActivityMinute", description: "The webhook attempts of one minute, counted by outcome." },
);
export type ActivityMinute = Static<typeof ActivityMinute>;

const Minutes = Type.Array(Type.Unsafe<ActivityMinute>(Type.Ref("ActivityMinute")), {
  description: "one entry per minute of [from, to), oldest first, minutes without attempts included (zeros)",
});
const Window = {
  from: { ...Timestamp, description: "start of the oldest minute" },
  to: { ...Timestamp, description: "end of the newest minute (the current one, still filling)" },
};

export const SubscriberActivity = Type.Object(
  { ...Window, minutes: Minutes },
  { $id: "SubscriberActivity", description: "A subscriber's attempts per minute." },
);
export type SubscriberActivity = Static<typeof SubscriberActivity>;

export const SubscribersActivity = Type.Object(
  {
    ...Window,
    subscribers: Type.Array(Type.Object({ name: SubscriberName, minutes: Minutes }), {
      description: "every subscriber (webhook and internal), by name",
    }),
  },
  { $id: "SubscribersActivity", description: "Every subscriber's attempts per minute." },
);
export type SubscribersActivity = Static<typeof SubscribersActivity>;

export const ACTIVITY_COMPONENTS = [ActivityMinute, SubscriberActivity, SubscribersActivity];
