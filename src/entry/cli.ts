import { loadConfigOrExit, openDatabase, openNodeRuntime } from './node-runtime.js';

/** `npm run db:migrate`, `npm run keys:rotate`. */
const usage = 'usage: latchkey <migrate | keys:rotate>';

const command = process.argv[2];
const config = loadConfigOrExit(process.env);

switch (command) {
  case 'migrate': {
    const database = await openDatabase(config, { migrate: true });
    await database.close();
    console.log('migrations applied');
    break;
  }
  case 'keys:rotate': {
    const runtime = await openNodeRuntime(config);
    await runtime.keyRing.ensureSigningKey();
    const kid = await runtime.keyRing.rotate();
    await runtime.database.close();
    console.log(
      `new signing key ${kid} (${config.signingAlg}) is active; previous keys stay published while their tokens live`,
    );
    break;
  }
  default:
    console.error(usage);
    process.exit(64);
}
