/**
 * `brain-event-gateway`, the package's main entry (Node only): the Charter's in-process consumer
 * and its error classes, and the in-process publisher (HTTP ingest's validation without HTTP).
 * The HTTP client and the catalogs have entries of their own
 * (`brain-event-gateway/client`, `brain-event-gateway/catalog`), free of server dependencies.
 */
export { createEventConsumer } from "./embedded/consumer.js";
export type {
  CatalogHandlers,
  ConsumedEvent,
  ConsumerHandlers,
  ConsumerSettings,
  EventConsumer,
  EventConsumerOptions,
  Handler,
  ReceivedEvent,
} from "./embedded/types.js";
export { PermanentError, TransientError } from "./consumer/types.js";
export type { PermanentErrorOptions, TransientErrorOptions } from "./consumer/types.js";
export { createEventPublisher, EventPublishError } from "./ingest/in-process.js";
export type { EventPublisher, EventPublisherOptions, PublishedEvent } from "./ingest/in-process.js";
