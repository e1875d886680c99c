/** `brain-event-gateway/client`: publish events to the gateway over HTTP. */
export { BrainEventsClient } from "./client.js";
export type {
  BrainEventsClientOptions,
  EventTypeInfo,
  PublishableEvent,
  PublishOptions,
  PublishResult,
  RegisterCatalogOptions,
} from "./client.js";
export { BrainApiError } from "./api-error.js";
export type { ErrorDetail } from "./api-error.js";
export { DEFAULT_RETRY } from "./retry.js";
export type { RetryOptions } from "./retry.js";
export type { BrainEvent } from "../catalog/types.js";
