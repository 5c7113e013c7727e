/** `npm run env:example`: writes `.env.example` from the configuration schema (src/config.ts). */
import { writeFileSync } from 'node:fs';
import { envExample } from '../config.js';

writeFileSync(new URL('../../.env.example', import.meta.url), envExample());
