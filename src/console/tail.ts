/**
 * The live tail (`GET /v1/events/tail`) read with fetch() streaming: EventSource cannot send the
 * Authorization header, and the token must never go in a URL. Reconnects after a drop or an
 * `overflow` event, resuming after the last id seen (Last-Event-ID).
 */
import { createParser } from "eventsource-parser";
import { authHeaders, query } from "./api.js";
import type { StoredEvent } from "./types.js";

const RETRY_MS = 2_000;

export interface Tail {
  stop(): void;
}

export function startTail(type: string, onEvent: (e: StoredEvent) => void, onState: (state: string) => void): Tail {
  const abort = new AbortController();
  let lastId: string | undefined;
  const once = async () => {
    const headers = authHeaders();
    if (lastId !== undefined) headers["last-event-id"] = lastId;
    const res = await fetch(`/v1/events/tail${query({ type })}`, { headers, signal: abort.signal, cache: "no-store" });
    if (!res.ok || res.body === null) throw new Error(`the tail answered HTTP ${res.status}`);
    onState("live");
    const parser = createParser({
      onEvent: (msg) => {
        if (msg.id !== undefined) lastId = msg.id;
        if (msg.event === "event") onEvent(JSON.parse(msg.data) as StoredEvent);
      },
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.feed(value);
    }
  };
  const loop = async () => {
    while (!abort.signal.aborted) {
      try {
        await once();
        onState("reconnecting");
      } catch (err) {
        if (abort.signal.aborted) return;
        onState(`reconnecting (${(err as Error).message})`);
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  };
  void loop();
  return { stop: () => abort.abort() };
}
