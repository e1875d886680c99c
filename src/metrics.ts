/**
 * Prometheus metrics. One registry per app instance (tests build several in one process).
 * Label values that come from clients (event types) are folded by `boundedLabel` so that
 * cardinality stays bounded.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createMetrics() {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    eventsIngested: new Counter({
      name: "brain_events_ingested_total",
      help: "Events offered for ingest, by type and outcome (accepted, replayed, rejected, unavailable)",
      labelNames: ["type", "outcome"] as const,
      registers,
    }),
    ingestDuration: new Histogram({
      name: "brain_ingest_duration_seconds",
      help: "Time to answer an ingest request",
      labelNames: ["route", "status"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    deliveries: new Counter({
      name: "brain_deliveries_total",
      help: "Webhook delivery attempts by subscriber and outcome (delivered, retry, dead_lettered)",
      labelNames: ["subscriber", "outcome"] as const,
      registers,
    }),
    webhookDuration: new Histogram({
      name: "brain_webhook_request_duration_seconds",
      help: "Duration of webhook requests",
      labelNames: ["subscriber"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    endToEndLatency: new Histogram({
      name: "brain_delivery_latency_seconds",
      help: "From the envelope being accepted (stream id time) to the webhook's 2xx",
      labelNames: ["subscriber"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600],
      registers,
    }),
    deadLetters: new Counter({
      name: "brain_dead_letters_total",
      help: "Dead letters recorded, by subscriber and reason",
      labelNames: ["subscriber", "reason"] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Folds label values beyond the first `cap` distinct ones into `other`. */
export function boundedLabel(cap: number) {
  const seen = new Set<string>();
  return (value: string): string => {
    if (seen.has(value)) return value;
    if (seen.size >= cap) return "other";
    seen.add(value);
    return value;
  };
}
