/**
 * The live tail (GET /v1/events/tail) read by a real HTTP client over a real socket: its SSE frames
 * as they come, for tests of the tail on one process (event-tail) and on a cluster.
 */
import { request, type IncomingMessage } from "node:http";
import { ADMIN_TOKEN } from "./env.js";
import { auth } from "./http.js";

export interface Frame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

export interface Tail {
  res: IncomingMessage;
  frames: Frame[];
  events(): { id: string; body: { stream_message_id: string; event: Record<string, unknown> } }[];
  ended: Promise<void>;
  close(): void;
}

function parse(block: string): Frame {
  const frame: Frame = {};
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) frame.comment = line.slice(1).trim();
    const m = /^(id|event|data): (.*)$/.exec(line);
    if (m) frame[m[1] as "id" | "event" | "data"] = m[2];
  }
  return frame;
}

/** Opens a tail with a real HTTP client; resolves once the response head came. */
export function openTail(port: number, query = "", headers: Record<string, string> = {}): Promise<Tail> {
  return new Promise((resolve, reject) => {
    const req = request({
      port,
      host: "127.0.0.1",
      path: `/v1/events/tail${query}`,
      headers: { ...auth(ADMIN_TOKEN), ...headers },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const frames: Frame[] = [];
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          frames.push(parse(buffer.slice(0, end)));
          buffer = buffer.slice(end + 2);
        }
      });
      const ended = new Promise<void>((done) => res.on("close", done));
      resolve({
        res,
        frames,
        events: () => frames.filter((f) => f.event === "event").map((f) => ({ id: f.id!, body: JSON.parse(f.data!) })),
        ended,
        close: () => req.destroy(),
      });
    });
    req.end();
  });
}
