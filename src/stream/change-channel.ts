/**
 * The subscriber-changed channel (`<stream>:subscribers:changed`, pub/sub): after every change to a
 * subscriber, its name is published so every dispatcher reloads at once. A lost message costs
 * only latency: dispatchers also poll (delivery/dispatcher.ts).
 */
import type { RedisClient } from "./connections.js";

/** Publishes a subscriber's name on the channel. */
export async function announceChange(redis: RedisClient, channel: string, subscriber: string): Promise<void> {
  await redis.publish(channel, subscriber);
}

/**
 * Calls `onChange` for every message on the channel. `redis` must be a connection of its own: once
 * subscribed it takes no other command. It subscribes once connected, however late that is; after
 * a reconnect ioredis subscribes again by itself.
 */
export function listenForChanges(redis: RedisClient, channel: string, onChange: (subscriber: string) => void): void {
  redis.on("message", (_channel: string, subscriber: string) => onChange(subscriber));
  let subscribed = false;
  const subscribe = () => {
    if (!subscribed)
      redis.subscribe(channel).then(
        () => (subscribed = true),
        () => {},
      );
  };
  redis.on("ready", subscribe);
  if (redis.status === "ready") subscribe();
  else if (redis.status === "wait") redis.connect().catch(() => {});
}
