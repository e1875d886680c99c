CREATE TABLE "dead_letters" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"subscriber_name" varchar(255) NOT NULL,
	"stream_message_id" varchar(50) NOT NULL,
	"event_id" varchar(64),
	"reason" text NOT NULL,
	"last_status_code" integer,
	"last_error" text,
	"attempts" integer NOT NULL,
	"event" text,
	"failed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone,
	CONSTRAINT "dead_letters_subscriber_msg_uq" UNIQUE("subscriber_name","stream_message_id")
);
--> statement-breakpoint
CREATE TABLE "delivery_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"subscriber_name" varchar(255) NOT NULL,
	"stream_message_id" varchar(50) NOT NULL,
	"event_id" varchar(64),
	"attempt" integer NOT NULL,
	"status_code" integer,
	"error" text,
	"duration_ms" integer NOT NULL,
	"outcome" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "processed_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"subscriber_name" varchar(255) NOT NULL,
	"stream_message_id" varchar(50) NOT NULL,
	"event_id" varchar(64),
	"outcome" text NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "processed_events_subscriber_msg_uq" UNIQUE("subscriber_name","stream_message_id")
);
--> statement-breakpoint
CREATE TABLE "subscribers" (
	"name" varchar(63) PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"event_types" text[] NOT NULL,
	"description" text,
	"secret" text NOT NULL,
	"previous_secret" text,
	"previous_secret_expires_at" timestamp with time zone,
	"enabled" boolean DEFAULT true NOT NULL,
	"max_attempts" integer DEFAULT 8 NOT NULL,
	"timeout_ms" integer DEFAULT 10000 NOT NULL,
	"max_in_flight" integer DEFAULT 32 NOT NULL,
	"headers" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "dead_letters" ADD CONSTRAINT "dead_letters_subscriber_name_subscribers_name_fk" FOREIGN KEY ("subscriber_name") REFERENCES "public"."subscribers"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "delivery_attempts" ADD CONSTRAINT "delivery_attempts_subscriber_name_subscribers_name_fk" FOREIGN KEY ("subscriber_name") REFERENCES "public"."subscribers"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "processed_events" ADD CONSTRAINT "processed_events_subscriber_name_subscribers_name_fk" FOREIGN KEY ("subscriber_name") REFERENCES "public"."subscribers"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "delivery_attempts_subscriber_at_idx" ON "delivery_attempts" USING btree ("subscriber_name","at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "delivery_attempts_at_idx" ON "delivery_attempts" USING btree ("at");