CREATE TABLE "replays" (
	"id" uuid PRIMARY KEY NOT NULL,
	"subscriber_name" varchar(255) NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"from_spec" text NOT NULL,
	"to_spec" text,
	"ranges" jsonb NOT NULL,
	"event_types" text[],
	"max_per_second" integer NOT NULL,
	"total" bigint,
	"sent" bigint DEFAULT 0 NOT NULL,
	"delivered" bigint DEFAULT 0 NOT NULL,
	"failed" bigint DEFAULT 0 NOT NULL,
	"error" text,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "replays" ADD CONSTRAINT "replays_subscriber_name_subscribers_name_fk" FOREIGN KEY ("subscriber_name") REFERENCES "public"."subscribers"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "replays_subscriber_created_idx" ON "replays" USING btree ("subscriber_name","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "replays_active_idx" ON "replays" USING btree ("created_at") WHERE "replays"."state" in ('pending', 'running');