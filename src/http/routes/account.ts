/**
 * Moved to ./users.ts ("account" meant three things in this tree). This re-export only keeps
 * src/http/app.ts building until it imports `usersRoutes` from there; then it goes.
 */
export { usersRoutes as accountRoutes } from './users.js';
