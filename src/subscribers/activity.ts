/**
 * Per-minute delivery activity as the API shows it: the database's minutes (db/activity.ts) laid
 * on a fixed window of whole minutes ending with the current one, zero-filled.
 */
import type { Db } from "../db/client.js";
import { allSubscriberMinutes, subscriberMinutes, type MinuteRow } from "../db/activity.js";
import { getSubscriberRow } from "../db/subscribers.js";
import { errors } from "../errors.js";
import type { ActivityMinute, SubscriberActivity, SubscribersActivity } from "../schemas/delivery-activity.js";

const MINUTE_MS = 60_000;

/** `minutes` whole minutes, the last one the minute `now` falls in. */
export function activityWindow(minutes: number, now = Date.now()): { from: Date; to: Date } {
  const to = Math.floor(now / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  return { from: new Date(to - minutes * MINUTE_MS), to: new Date(to) };
}

/** One entry per minute of [from, to), oldest first: a row's counts where there is one, zeros elsewhere. */
function fill(from: Date, to: Date, rows: Iterable<MinuteRow>): ActivityMinute[] {
  const byMinute = new Map<number, MinuteRow>();
  for (const r of rows) byMinute.set(r.minute, r);
  const out: ActivityMinute[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += MINUTE_MS) {
    const r = byMinute.get(t);
    out.push({
      minute: new Date(t).toISOString(),
      delivered: r?.delivered ?? 0,
      retry: r?.retry ?? 0,
      dead_lettered: r?.dead_lettered ?? 0,
      p50_ms: r?.p50_ms ?? null,
      p99_ms: r?.p99_ms ?? null,
    });
  }
  return out;
}

/** A subscriber's attempts per minute over the last `minutes`; 404 when it is unknown. */
export async function subscriberActivity(db: Db, name: string, minutes: number): Promise<SubscriberActivity> {
  const { from, to } = activityWindow(minutes);
  const [row, rows] = await Promise.all([getSubscriberRow(db, name), subscriberMinutes(db, name, from, to)]);
  if (!row) throw new errors.NotFound(`no subscriber named ${name}`);
  return { from: from.toISOString(), to: to.toISOString(), minutes: fill(from, to, rows) };
}

/** Every subscriber's attempts per minute over the last `minutes`, by name. */
export async function allSubscribersActivity(db: Db, minutes: number): Promise<SubscribersActivity> {
  const { from, to } = activityWindow(minutes);
  const bySubscriber = new Map<string, MinuteRow[]>();
  for (const { name, minute, ...counts } of await allSubscriberMinutes(db, from, to)) {
    let list = bySubscriber.get(name);
    if (!list) bySubscriber.set(name, (list = []));
    if (minute !== null) list.push({ minute, ...counts });
  }
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    subscribers: [...bySubscriber].map(([name, rows]) => ({ name, minutes: fill(from, to, rows) })),
  };
}
