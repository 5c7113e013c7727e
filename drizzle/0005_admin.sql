ALTER TABLE "security_events" ADD COLUMN "country" text;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "role" text DEFAULT 'user' NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "disabled_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "refresh_tokens_live_head_user_idx" ON "refresh_tokens" USING btree ("user_id","expires_at","session_created_at") WHERE rotated_at IS NULL AND revoked_at IS NULL;--> statement-breakpoint
CREATE INDEX "security_events_type_created_idx" ON "security_events" USING btree ("type","created_at");--> statement-breakpoint
CREATE INDEX "security_events_login_facts_idx" ON "security_events" USING btree ("created_at","country","user_agent") WHERE type = 'login_succeeded';--> statement-breakpoint
CREATE INDEX "users_email_prefix_idx" ON "users" USING btree ("email" text_pattern_ops);--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_role_check" CHECK (role IN ('user', 'admin'));