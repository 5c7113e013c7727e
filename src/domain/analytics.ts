/** The longest window the admin analytics cover, in days (GET /v1/admin/analytics `days`). */
export const MAX_ANALYTICS_DAYS = 90;
