ALTER TABLE "signing_keys" ADD COLUMN "activates_at" timestamp with time zone;--> statement-breakpoint
UPDATE "signing_keys" SET "activates_at" = "created_at";--> statement-breakpoint
ALTER TABLE "signing_keys" ALTER COLUMN "activates_at" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "refresh_tokens_revoked_head_idx" ON "refresh_tokens" USING btree ("revoked_at") WHERE rotated_at IS NULL AND revoked_at IS NOT NULL;
