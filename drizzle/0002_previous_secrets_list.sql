ALTER TABLE "subscribers" ADD COLUMN "previous_secrets" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
-- Data: the one previous secret becomes the first entry of the list, with its expiry as ISO 8601 UTC.
UPDATE "subscribers" SET "previous_secrets" = jsonb_build_array(jsonb_build_object(
  'secret', "previous_secret",
  'expires_at', to_char("previous_secret_expires_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
)) WHERE "previous_secret" IS NOT NULL AND "previous_secret_expires_at" IS NOT NULL;
