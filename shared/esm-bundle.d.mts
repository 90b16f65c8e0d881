import type { Plugin } from 'esbuild';
/** See esm-bundle.mjs. */
export function bundleOnce(o: { entry: string; name: string; cacheDir: string; plugins?: Plugin[]; sourcemap?: boolean }): Promise<string>;
