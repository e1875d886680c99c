/**
 * A webhook receiver for one subscriber: verifies every delivery's Standard Webhooks signature with
 * the `standardwebhooks` package and prints the event. Reads WEBHOOK_SECRET (the subscriber's
 * `whsec_…`), PORT (default 9000) and HOST (default 127.0.0.1); stops on SIGTERM or after EXIT_AFTER events.
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import type { BrainEvent } from "brain-event-gateway/client";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

const webhook = new Webhook(required("WEBHOOK_SECRET"));
const port = Number(process.env["PORT"] ?? 9000);
const host = process.env["HOST"] ?? "127.0.0.1";
const exitAfter = Number(process.env["EXIT_AFTER"] ?? Infinity);
// Delivery is at least once, and a repeat carries the same webhook-id (the stream message id). A real
// receiver records the ids it handled in the same transaction as the work they caused.
const handled = new Set<string>();

/** The status to answer: 2xx is done, 401 and other 4xx are permanent (a dead letter), 5xx is retried. */
function receive(body: string, incoming: IncomingHttpHeaders): number {
  const headers = Object.fromEntries(Object.entries(incoming).map(([name, value]) => [name, String(value)]));
  let event: BrainEvent;
  try {
    // The signature covers the body's exact bytes, so it is checked before anything parses them.
    event = webhook.verify(body, headers) as BrainEvent;
  } catch (error) {
    console.log(`rejected: ${(error as Error).message}`);
    return error instanceof WebhookVerificationError ? 401 : 400;
  }
  const id = headers["webhook-id"];
  if (handled.has(id)) {
    console.log(`duplicate ${id} ignored`);
    return 204;
  }
  handled.add(id);
  const attempt = headers["x-brain-attempt"];
  console.log(`verified ${id} ${event.type} ${JSON.stringify(event.payload)} (attempt ${attempt})`);
  return 204;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    res.writeHead(receive(Buffer.concat(chunks).toString("utf8"), req.headers)).end();
    if (handled.size >= exitAfter) server.close();
  });
});
server.listen(port, host, () => console.log(`listening on http://${host}:${(server.address() as AddressInfo).port}`));
process.once("SIGTERM", () => server.close());

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
