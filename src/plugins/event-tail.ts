/**
 * The process's live tails (stream/tail.ts): at most MAX_TAILS at once, each on the process's
 * stream watcher, all ended when the gateway shuts down. With delivery in this process (role `all`)
 * the tails share the dispatcher's watcher, so they add no Redis connection; an API-only process
 * starts a watcher of its own with its first tail (one blocking connection, or one per partition
 * in cluster mode, whatever the number of tails).
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import fp from "fastify-plugin";
import { errors, redisFailure } from "../errors.js";
import { EventTail, type TailOptions } from "../stream/tail.js";
import { StreamWatcher } from "../stream/watcher.js";

/** Live tails one process serves at once. */
export const MAX_TAILS = 32;

declare module "fastify" {
  interface FastifyInstance {
    eventTails: EventTails;
  }
}

export class EventTails {
  private readonly open = new Map<EventTail, Promise<unknown>>();
  private ownWatcher: StreamWatcher | null = null;
  private closing = false;
  /** Tails reading where they start: they count against MAX_TAILS already. */
  private starting = 0;

  constructor(private readonly app: FastifyInstance) {}

  /** Tails open now. */
  get size(): number {
    return this.open.size;
  }

  /**
   * Answers `reply` with a tail: throws a 503 before anything is sent when MAX_TAILS are open,
   * else takes the response over and streams until the client leaves, an overflow, a Redis
   * failure (the client reconnects with Last-Event-ID) or shutdown.
   */
  async serve(reply: FastifyReply, opts: Pick<TailOptions, "type" | "after">): Promise<void> {
    if (this.closing) throw new errors.ShuttingDown();
    if (this.open.size + this.starting >= MAX_TAILS) {
      throw Object.assign(new errors.Overloaded(), {
        message: `this gateway process serves at most ${MAX_TAILS} live tails at once; retry later`,
      });
    }
    const tail = new EventTail({
      redis: this.app.redis,
      watcher: this.watcher(),
      partitions: this.app.keys.partitions,
      ...opts,
    });
    this.starting++;
    try {
      await tail.start();
    } catch (cause) {
      throw redisFailure(cause);
    } finally {
      this.starting--;
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      // Proxies that buffer responses (nginx) would hold the events back.
      "x-accel-buffering": "no",
    });
    // The client learns at once that the tail is open, before the first event.
    res.write(": tail open\n\n");
    res.once("close", () => tail.stop());
    // A client that left while the tail started has no close event to come.
    if (res.socket === null || res.socket.destroyed) tail.stop();
    const running = tail
      .run(res)
      .then(
        (why) => why === "stopped" && res.end(),
        (err: Error) => {
          this.app.log.warn({ err: err.message }, "live tail failed; the client reconnects");
          res.end();
        },
      )
      .finally(() => this.open.delete(tail));
    this.open.set(tail, running);
  }

  /** Ends every tail (their responses end cleanly) and stops a watcher of its own. */
  async close(): Promise<void> {
    this.closing = true;
    for (const tail of this.open.keys()) tail.stop();
    await Promise.allSettled(this.open.values());
    await this.ownWatcher?.close();
  }

  private watcher(): StreamWatcher {
    if (this.app.hasDecorator("dispatcher")) return this.app.dispatcher.watcher;
    this.ownWatcher ??= new StreamWatcher(
      this.app.redis,
      this.app.keys.partitions.map((p) => p.stream),
      (err) => this.app.log.warn({ err: err.message }, "watching the stream for live tails failed; retrying"),
    );
    return this.ownWatcher;
  }
}

/** Registered after the dispatcher, whose watcher the tails share. */
export default fp(
  async (app) => {
    const tails = new EventTails(app);
    app.decorate("eventTails", tails);
    // preClose, before the server waits for its connections: a tail's response would never end by itself.
    app.addHook("preClose", async () => tails.close());
  },
  { name: "event-tail", fastify: "5.x", dependencies: ["redis"] },
);
