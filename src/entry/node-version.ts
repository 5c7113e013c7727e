/** The major of a Node version string (`process.version`, `v26.12.1` → 26); 0 when it has none. */
export const nodeMajor = (version: string): number => Number(/^v?(\d+)\./.exec(version)?.[1] ?? 0);
