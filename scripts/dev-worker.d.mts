// Types of scripts/dev-worker.mjs, for test/dev-worker.test.ts.
export declare const KNOWN_VARIABLES: string[];
export declare function collectWorkerVariables(
  env: Record<string, string | undefined>,
  options: { port: string; masterSecret: string },
): { vars: Record<string, string>; warnings: string[] };
export declare function envFileLine(name: string, value: string): string;
export declare function envFileText(vars: Record<string, string>): string;
export declare function wranglerArguments(options: {
  port: string;
  dataDir: string;
  envFile: string;
  rest: string[];
}): string[];
export declare function writeEnvFile(vars: Record<string, string>): { file: string; remove(): void };
