ALTER TABLE "login_holds" ADD COLUMN "ip_address" "inet";--> statement-breakpoint
ALTER TABLE "login_holds" ADD COLUMN "user_agent" text;