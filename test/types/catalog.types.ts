/**
 * Type-level test of the catalog, the typed client and the typed in-process publisher: never run,
 * only compiled by `npm run typecheck` (tsc --noEmit over test/). Each `@ts-expect-error` line must
 * be an error, or tsc fails with "Unused '@ts-expect-error' directive"; so if the types stopped
 * catching a wrong payload, typecheck (and npm test) would fail.
 */
import { Type } from "typebox";
import { BrainEventsClient, type PublishResult } from "../../src/client/index.js";
import { createEvent, defineEventCatalog, missionEvents, type CatalogEvent } from "../../src/catalog/index.js";
import { createEventPublisher, type PublishedEvent } from "../../src/ingest/in-process.js";

const from = { source: "mission_queue", producer: "mission_queue_manager", source_module: "missions" };
const meta = { schema_version: 1, producer: "mission_queue_manager", source_module: "missions" };

export async function typedClient(client: BrainEventsClient<typeof missionEvents>): Promise<PublishResult[]> {
  const ok = [
    await client.publish(createEvent(missionEvents, "mission.created", { mission_id: "m-1", priority: "high" }, from)),
    await client.publish({ type: "mission.cancelled", source: "q", payload: { mission_id: "m-1", reason: "x" }, meta }),
    await client.publish({ type: "mission.failed", source: "q", payload: { mission_id: "m", error: "boom" }, meta }),
  ];
  // @ts-expect-error mission.created needs mission_id
  await client.publish({ type: "mission.created", source: "q", payload: { title: "no id" }, meta });
  // @ts-expect-error mission_id is a string
  await client.publish({ type: "mission.created", source: "q", payload: { mission_id: 42 }, meta });
  // @ts-expect-error a key the payload schema does not have
  await client.publish({ type: "mission.created", source: "q", payload: { mission_id: "m", colour: "red" }, meta });
  // @ts-expect-error a key of another type's payload: `reason` belongs to mission.cancelled
  await client.publish({ type: "mission.created", source: "q", payload: { mission_id: "m", reason: "x" }, meta });
  // @ts-expect-error mission.cancelled needs a reason
  await client.publish({ type: "mission.cancelled", source: "q", payload: { mission_id: "m" }, meta });
  // @ts-expect-error mission.failed needs an error
  await client.publish({ type: "mission.failed", source: "q", payload: { mission_id: "m" }, meta });
  // @ts-expect-error a type outside the catalog
  await client.publish({ type: "mission.exploded", source: "q", payload: { mission_id: "m" }, meta });
  await client.publish({
    type: "mission.created",
    source: "q",
    // @ts-expect-error priority is one of four words
    payload: { mission_id: "m", priority: "urgent" },
    meta,
  });
  await client.publish({
    type: "mission.started",
    source: "q",
    payload: { mission_id: "m" },
    // @ts-expect-error meta.producer is required
    meta: { schema_version: 1 },
  });
  // @ts-expect-error a batch is checked event by event
  ok.push(...(await client.publishBatch([{ type: "mission.started", source: "q", payload: {}, meta }])));
  return ok;
}

export function created() {
  // @ts-expect-error createEvent checks the payload against the type it names
  createEvent(missionEvents, "mission.created", { mission_id: 1 }, from);
  // @ts-expect-error and the type against the catalog
  createEvent(missionEvents, "mission.landed", { mission_id: "m" }, from);
  // @ts-expect-error meta.source_module is required
  createEvent(missionEvents, "mission.started", { mission_id: "m" }, { source: "q", producer: "p" });
  const event = createEvent(missionEvents, "mission.failed", { mission_id: "m", error: "boom" }, from);
  // What createEvent fills is typed as present.
  const filled: { id: string; timestamp: string; type: "mission.failed" } = event;
  const error: string = event.payload.error;
  return [filled, error];
}

export async function untypedClient(client: BrainEventsClient) {
  // Without a catalog any envelope goes, including a catalog event.
  await client.publish({ type: "anything.at_all", source: "q", payload: { free: ["form"] }, meta });
  await client.publish(createEvent(missionEvents, "mission.started", { mission_id: "m" }, from));
  // @ts-expect-error but the envelope itself is still checked: payload is an object
  await client.publish({ type: "x", source: "q", payload: "text", meta });
  // @ts-expect-error and meta values are strings, numbers or booleans
  await client.publish({ type: "x", source: "q", payload: {}, meta: { ...meta, trace: null } });
}

export function ownCatalog() {
  const billing = defineEventCatalog({
    "invoice.paid": Type.Object({ invoice_id: Type.String(), cents: Type.Integer() }),
  });
  const paid: CatalogEvent<typeof billing> = {
    type: "invoice.paid",
    source: "billing",
    payload: { invoice_id: "i-1", cents: 100 },
    meta,
  };
  // @ts-expect-error cents is an integer (a number to TypeScript), not a string
  createEvent(billing, "invoice.paid", { invoice_id: "i-1", cents: "100" }, from);
  return new BrainEventsClient<typeof billing>({ baseUrl: "http://localhost", token: "t" }).publish(paid);
}

export async function inProcessPublisher() {
  const typed = createEventPublisher({ catalog: missionEvents });
  const ok: PublishedEvent[] = [
    await typed.publish(createEvent(missionEvents, "mission.started", { mission_id: "m" }, from)),
    await typed.publish({ type: "mission.failed", source: "q", payload: { mission_id: "m", error: "boom" }, meta }),
  ];
  // @ts-expect-error the payload follows the type: mission_id is a string
  await typed.publish({ type: "mission.created", source: "q", payload: { mission_id: 42 }, meta });
  // @ts-expect-error a type outside the catalog
  await typed.publish({ type: "mission.exploded", source: "q", payload: { mission_id: "m" }, meta });
  // @ts-expect-error a batch is checked event by event
  await typed.publishBatch([{ type: "mission.cancelled", source: "q", payload: { mission_id: "m" }, meta }]);
  const untyped = createEventPublisher({ redisUrl: "redis://127.0.0.1:6379", stream: "s", env: {} });
  await untyped.publish({ type: "anything.at_all", source: "q", payload: { free: ["form"] }, meta });
  // @ts-expect-error the envelope itself is still checked
  await untyped.publish({ type: "x", source: "q", payload: "text", meta });
  await Promise.all([typed.close(), untyped.close()]);
  return ok;
}
