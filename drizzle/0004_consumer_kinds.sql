ALTER TABLE "subscribers" ALTER COLUMN "url" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "subscribers" ALTER COLUMN "secret" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "dead_letters" ADD COLUMN "redeliver_requested_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "subscribers" ADD COLUMN "kind" text DEFAULT 'webhook' NOT NULL;--> statement-breakpoint
CREATE INDEX "dead_letters_redeliver_requested_idx" ON "dead_letters" USING btree ("subscriber_name") WHERE "dead_letters"."redeliver_requested_at" IS NOT NULL;--> statement-breakpoint
ALTER TABLE "subscribers" ADD CONSTRAINT "subscribers_webhook_has_url_and_secret" CHECK ("subscribers"."kind" <> 'webhook' OR ("subscribers"."url" IS NOT NULL AND "subscribers"."secret" IS NOT NULL));