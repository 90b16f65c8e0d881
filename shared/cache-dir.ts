/**
 * Where the project keeps what it can rebuild: `node_modules/.cache/<name>/` (compiled worker
 * bundles, the edge's chunk calibration). Beside the dependencies, so a fresh `npm ci` starts
 * clean, and found from this file's own location so any process of the checkout shares it.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../node_modules/.cache/', import.meta.url));

/** The absolute path of the project's cache directory `name` (not created here). */
export function projectCacheDir(name: string): string {
  return join(ROOT, name);
}
