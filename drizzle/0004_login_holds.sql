CREATE TABLE "login_holds" (
	"id" uuid PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"user_id" uuid NOT NULL,
	"client_id" text NOT NULL,
	"device_name" text,
	"remembered" boolean NOT NULL,
	"delivery" text NOT NULL,
	"acr" text NOT NULL,
	"amr" text[] NOT NULL,
	"auth_time" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"consumed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "login_holds" ADD CONSTRAINT "login_holds_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "login_holds_token_hash_key" ON "login_holds" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "login_holds_expires_at_idx" ON "login_holds" USING btree ("expires_at");