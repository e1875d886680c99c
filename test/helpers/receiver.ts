/**
 * A real webhook receiver for tests: an HTTP server on 127.0.0.1, port 0, that records every
 * request and answers what the test tells it (status, headers, a delay, or a dropped socket).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { once } from "node:events";

type Test = { teardown(fn: () => unknown): void };

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  path: string;
}

export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  /** Wait this long before answering (to provoke timeouts, or to keep requests in flight). */
  delayMs?: number;
}

export interface Receiver {
  url: string;
  port: number;
  requests: Received[];
  /** Decides each answer; gets the request and how many came before it (default: 200). */
  answer: (req: Received, index: number) => Answer;
  /** Requests whose `x-brain-event-id`… or any predicate; resolves once `n` match, rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number, filter?: (r: Received) => boolean): Promise<Received[]>;
  /** Number of requests currently being answered. */
  open(): number;
  close(): Promise<void>;
}

export async function startReceiver(t: Test): Promise<Receiver> {
  let inFlight = 0;
  const receiver = {
    requests: [] as Received[],
    answer: (() => ({ status: 200 })) as Receiver["answer"],
  } as Receiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const rec: Received = {
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
        path: req.url ?? "/",
      };
      const index = receiver.requests.length;
      receiver.requests.push(rec);
      const a = receiver.answer(rec, index);
      inFlight++;
      setTimeout(() => {
        inFlight--;
        if (res.destroyed) return;
        res.writeHead(a.status ?? 200, a.headers ?? {});
        res.end();
      }, a.delayMs ?? 0);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  receiver.port = port;
  receiver.url = `http://127.0.0.1:${port}/hook`;
  receiver.open = () => inFlight;
  receiver.waitFor = async (n, timeoutMs = 15_000, filter = () => true) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = receiver.requests.filter(filter);
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`expected ${n} requests, got ${got.length} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  receiver.close = async () => {
    server.closeAllConnections();
    server.close();
  };
  t.teardown(() => receiver.close());
  return receiver;
}
