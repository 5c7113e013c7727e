// Until app.ts imports './pages/routes.js' (requests-B.md): then this file goes.
export { accountPages } from '../pages/routes.js';
