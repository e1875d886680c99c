ALTER TABLE "subscribers" DROP COLUMN "previous_secret";--> statement-breakpoint
ALTER TABLE "subscribers" DROP COLUMN "previous_secret_expires_at";