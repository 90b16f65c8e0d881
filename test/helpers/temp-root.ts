/**
 * Vitest global setup: every temporary file of a test run goes under one directory, removed
 * when the run ends. Tests (and the agents, local FCs and browsers they start) create their
 * scratch directories with `os.tmpdir()`, which reads TMPDIR; the forked test processes inherit
 * it from here. Without it each `npm test` left ~15 directories in /tmp.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'seb-test-'));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    rmSync(root, { recursive: true, force: true });
  };
}
