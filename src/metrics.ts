/**
 * Prometheus metrics. One registry per app instance (tests build several in one process).
 * Label values that come from clients (event types) are folded by `boundedLabel` so that
 * cardinality stays bounded.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

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
    replayRequests: new Counter({
      name: "brain_replay_requests_total",
      help: "Webhook requests of replays, by subscriber and outcome (delivered, retry, failed)",
      labelNames: ["subscriber", "outcome"] as const,
      registers,
    }),
    deadLetters: new Counter({
      name: "brain_dead_letters_total",
      help: "Dead letters recorded, by subscriber and reason",
      labelNames: ["subscriber", "reason"] as const,
      registers,
    }),
    // The gauges below are set at scrape time from Redis and Postgres (routes/metrics.ts).
    subscriberPending: new Gauge({
      name: "brain_subscriber_pending",
      help: "Entries delivered to a subscriber's consumer group but not yet acknowledged (in flight or awaiting retry)",
      labelNames: ["subscriber"] as const,
      registers,
    }),
    subscriberLag: new Gauge({
      name: "brain_subscriber_lag",
      help: "Entries in the stream a subscriber's consumer group has not read yet",
      labelNames: ["subscriber"] as const,
      registers,
    }),
    subscriberPartitionLag: new Gauge({
      name: "brain_subscriber_partition_lag",
      help: "Entries in one stream partition a subscriber's consumer group has not read yet",
      labelNames: ["subscriber", "partition"] as const,
      registers,
    }),
    streamLength: new Gauge({
      name: "brain_stream_length",
      help: "Entries in the event stream (XLEN, summed over partitions)",
      registers,
    }),
    partitionLength: new Gauge({
      name: "brain_stream_partition_length",
      help: "Entries in one stream partition (XLEN)",
      labelNames: ["partition"] as const,
      registers,
    }),
    redisUp: new Gauge({
      name: "brain_redis_up",
      help: "1 when Redis answered the scrape's queries, else 0",
      registers,
    }),
    postgresUp: new Gauge({
      name: "brain_postgres_up",
      help: "1 when Postgres answered the scrape's query, else 0",
      registers,
    }),
    subscribersPaused: new Gauge({
      name: "brain_subscribers_paused",
      help: "Enabled subscribers this process cannot deliver to because their signing secrets cannot be opened",
      registers,
    }),
    streamTrimmed: new Counter({
      name: "brain_stream_trimmed_entries_total",
      help:
        "Entries removed from the stream by the trimmer: `acked` (every group was past them) or `cap` " +
        "(BRAIN_STREAM_MAXLEN)",
      labelNames: ["reason"] as const,
      registers,
    }),
    retentionDeleted: new Counter({
      name: "brain_retention_deleted_rows_total",
      help:
        "Rows deleted by ledger retention: `processed_events` (their stream entry trimmed and older than " +
        "BRAIN_LEDGER_MIN_AGE_HOURS) or `dead_letters` (BRAIN_DEAD_LETTER_RETENTION_HOURS)",
      labelNames: ["table"] as const,
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
