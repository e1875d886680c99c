CREATE TABLE "subscriber_stats" (
	"subscriber_name" varchar(255) NOT NULL,
	"slot" integer NOT NULL,
	"delivered" bigint DEFAULT 0 NOT NULL,
	"dead_lettered" bigint DEFAULT 0 NOT NULL,
	"last_delivery_at" timestamp with time zone,
	CONSTRAINT "subscriber_stats_subscriber_name_slot_pk" PRIMARY KEY("subscriber_name","slot")
);
--> statement-breakpoint
ALTER TABLE "subscriber_stats" ADD CONSTRAINT "subscriber_stats_subscriber_name_subscribers_name_fk" FOREIGN KEY ("subscriber_name") REFERENCES "public"."subscribers"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "processed_events_stream_order_idx" ON "processed_events" USING btree (substr("stream_message_id", 1, strpos("stream_message_id", ':')),"subscriber_name",(substr(split_part("stream_message_id", '-', 1), strpos("stream_message_id", ':') + 1)::numeric),(split_part("stream_message_id", '-', 2)::numeric),"stream_message_id");--> statement-breakpoint
-- Backfill the counters from the ledger. SHARE mode lets reads go on but holds back ledger writes
-- until this transaction commits, so no row is counted twice or missed (rows a process of the
-- previous version writes after the commit are not counted: README, "Ledger retention and stats").
LOCK TABLE "processed_events" IN SHARE MODE;--> statement-breakpoint
INSERT INTO "subscriber_stats" ("subscriber_name", "slot", "delivered", "dead_lettered", "last_delivery_at")
SELECT "subscriber_name", 0,
	count(*) FILTER (WHERE "outcome" = 'delivered'),
	count(*) FILTER (WHERE "outcome" = 'dead_lettered'),
	max("processed_at") FILTER (WHERE "outcome" = 'delivered')
FROM "processed_events"
GROUP BY "subscriber_name";
