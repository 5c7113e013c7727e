import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import {
  type ApiReferenceAssets,
  type DocsAsset,
  SWAGGER_UI_FILES,
  type SwaggerUiFile,
} from '../http/routes/docs.js';

/**
 * Swagger UI's files for /docs on Node, from this server: no CDN, so the reference works on a
 * closed network. A built server (`npm run build`) has them in dist/docs-assets/, precompressed
 * by scripts/docs-assets.mjs; from source (`npm start`, tests) they are read from the
 * installed swagger-ui-dist (a devDependency: it pulls in an install-time analytics script, so
 * it is no runtime dependency) and compressed once, in memory.
 */

/** dist/docs-assets/ beside dist/entry/ (src/docs-assets/, which does not exist, from source). */
const BUILT = fileURLToPath(new URL('../docs-assets/', import.meta.url));

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

const bytes = (buffer: Buffer) => new Uint8Array(buffer);

async function fromBuild(built: string): Promise<Record<SwaggerUiFile, DocsAsset> | undefined> {
  try {
    const entries = await Promise.all(
      SWAGGER_UI_FILES.map(async (name) => {
        const [identity, br, gz] = await Promise.all(
          [name, `${name}.br`, `${name}.gz`].map((file) => readFile(join(built, file))),
        );
        return [name, { identity: bytes(identity!), br: bytes(br!), gzip: bytes(gz!) }] as const;
      }),
    );
    return Object.fromEntries(entries) as Record<SwaggerUiFile, DocsAsset>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function fromPackage(): Promise<Record<SwaggerUiFile, DocsAsset>> {
  let dir: string;
  try {
    dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  } catch {
    throw new Error(
      '/docs: Swagger UI is not here: dist/docs-assets/ is missing (npm run build) and swagger-ui-dist is not installed (npm install)',
    );
  }
  const entries = await Promise.all(
    SWAGGER_UI_FILES.map(async (name) => {
      const identity = await readFile(join(dir, name));
      // Quicker settings than the build's (brotli 11 takes seconds): this runs at first request.
      const [br, gz] = await Promise.all([
        brotli(identity, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: 5,
            [constants.BROTLI_PARAM_SIZE_HINT]: identity.length,
          },
        }),
        gzipAsync(identity, { level: 6 }),
      ]);
      return [name, { identity: bytes(identity), br: bytes(br), gzip: bytes(gz) }] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<SwaggerUiFile, DocsAsset>;
}

/**
 * /docs serves Swagger UI from this server: the built, precompressed files (`built`: a test
 * may name another folder), else the installed package.
 */
export const swaggerUiAssets = (built = BUILT): ApiReferenceAssets => ({
  load: async () => (await fromBuild(built)) ?? (await fromPackage()),
});
