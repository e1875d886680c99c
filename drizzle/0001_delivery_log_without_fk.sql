ALTER TABLE "delivery_attempts" DROP CONSTRAINT "delivery_attempts_subscriber_name_subscribers_name_fk";
--> statement-breakpoint
DROP INDEX "delivery_attempts_at_idx";--> statement-breakpoint
CREATE INDEX "delivery_attempts_at_brin" ON "delivery_attempts" USING brin ("at");