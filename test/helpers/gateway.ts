/**
 * Helpers for tests against real gateway child processes (`dist/server.js`): HTTP calls with
 * the test tokens, and publishing in batches.
 */
import { assertDocumented } from "./contract.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./env.js";
import { auth, envelope } from "./http.js";
import type { Receiver } from "./receiver.js";

/** A parsed JSON answer; tests read the fields they assert on. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by assertions, not types
type Json = any;

/** Calls a child gateway; resolves with status and parsed JSON body (null when empty). */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token = ADMIN_TOKEN,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...auth(token), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const contentType = res.headers.get("content-type") ?? undefined;
  assertDocumented({ method, url: path, status: res.status, contentType, body: text });
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Publishes `n` standard envelopes in batches of 500; returns their stream ids in order. */
export async function publishMany(base: string, n: number, over: Record<string, unknown> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < n; done += 500) {
    const events = Array.from({ length: Math.min(500, n - done) }, () => envelope(over));
    const res = await call(base, "POST", "/v1/events/batch", { events }, PUBLISH_TOKEN);
    if (res.status !== 202) throw new Error(`batch publish failed: ${res.status} ${JSON.stringify(res.body)}`);
    ids.push(...(res.body.results as { stream_message_id: string }[]).map((r) => r.stream_message_id));
  }
  return ids;
}

/** Count of each value. */
export function tally(values: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

/**
 * Sentinel for "nothing more is coming": publishes one marker event and waits until each given
 * subscriber's receiver got it and the subscriber's group holds nothing pending. A group hands
 * out entries in stream order, and an entry leaves the pending list only after its request was
 * answered, so by then every request for an earlier entry, duplicates included, has arrived.
 * Returns the marker's stream id (it is delivered like any other event).
 */
export async function deliverMarker(
  base: string,
  subscribers: Record<string, Receiver>,
  timeoutMs = 30_000,
): Promise<string> {
  const [marker] = await publishMany(base, 1);
  const deadline = Date.now() + timeoutMs;
  for (const [name, receiver] of Object.entries(subscribers)) {
    await receiver.waitFor(1, Math.max(0, deadline - Date.now()), (r) => r.headers["webhook-id"] === marker);
    for (;;) {
      const { status, body } = await call(base, "GET", `/v1/subscribers/${name}`);
      if (status === 200 && body.stats.pending === 0) break;
      if (Date.now() > deadline) throw new Error(`${name}: still ${body?.stats?.pending} pending after the marker`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return marker!;
}
