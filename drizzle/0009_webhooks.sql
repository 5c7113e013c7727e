CREATE TABLE "webhook_endpoints" (
	"id" uuid PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"description" text,
	"event_types" text[],
	"enabled" boolean DEFAULT true NOT NULL,
	"secret" text NOT NULL,
	"previous_secret" text,
	"previous_secret_expires_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"last_success_at" timestamp with time zone,
	"disabled_at" timestamp with time zone,
	"disabled_reason" text
);
--> statement-breakpoint
DROP INDEX "outbox_due_idx";--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "endpoint_id" uuid;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "last_status" integer;--> statement-breakpoint
CREATE INDEX "webhook_endpoints_enabled_idx" ON "webhook_endpoints" USING btree ("enabled");--> statement-breakpoint
ALTER TABLE "outbox" ADD CONSTRAINT "outbox_endpoint_id_webhook_endpoints_id_fk" FOREIGN KEY ("endpoint_id") REFERENCES "public"."webhook_endpoints"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "outbox_mail_due_idx" ON "outbox" USING btree ("next_attempt_at") WHERE status = 'pending' AND endpoint_id IS NULL;--> statement-breakpoint
CREATE INDEX "outbox_webhook_due_idx" ON "outbox" USING btree ("next_attempt_at") WHERE status = 'pending' AND endpoint_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "outbox_endpoint_created_idx" ON "outbox" USING btree ("endpoint_id","created_at") WHERE endpoint_id IS NOT NULL;