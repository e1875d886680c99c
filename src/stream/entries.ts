import type { EventEnvelope } from "../schemas/envelope.js";

/** A stream entry decoded for browsing or delivery. */
export interface DecodedEntry {
  streamMessageId: string;
  /** The JSON exactly as stored: webhooks send these bytes, so signatures match what was accepted. */
  json: string;
  event: EventEnvelope;
}

/**
 * Decodes the `event` field of a stream entry. Entries written by older producers may lack
 * `meta`; Charter B says they get a default meta instead of being dropped. Returns null for an
 * entry that holds no parseable event (it cannot be delivered; callers dead-letter it).
 */
export function decodeEntry(streamMessageId: string, fields: string[] | null): DecodedEntry | null {
  if (!fields) return null;
  let raw: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "event") raw = fields[i + 1];
  }
  if (raw === undefined) return null;
  let event: EventEnvelope;
  try {
    event = JSON.parse(raw) as EventEnvelope;
  } catch {
    return null;
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) return null;
  if (typeof event.meta !== "object" || event.meta === null) {
    event = { ...event, meta: { schema_version: 1, producer: String(event.source), source_module: "unknown" } };
    raw = JSON.stringify(event);
  }
  return { streamMessageId, json: raw, event };
}
