/**
 * Entry of the local FC's own process (started by `localFcProcess()` in embedded-local-fc.ts):
 * receives its options over the IPC channel, starts the local FC, answers where it listens, and
 * closes when told to or when the agent's process goes away.
 */
import { startLocalFc, type LocalFcOptions } from '../../local-fc/index.ts';

/** Parent → child: the options (plain data) to start with; then 'close'. */
export type ToLocalFcProcess = { readonly type: 'start'; readonly options: LocalFcOptions } | { readonly type: 'close' };
/** Child → parent. */
export type FromLocalFcProcess =
  | { readonly type: 'listening'; readonly url: string; readonly accountId: string; readonly region: string; readonly accessKeyId: string }
  | { readonly type: 'error'; readonly message: string };

const send = (m: FromLocalFcProcess) => process.send?.(m);

let close: (() => Promise<void>) | undefined;
const exit = () => void (close ? close() : Promise.resolve()).finally(() => process.exit(0));

process.on('message', (m: ToLocalFcProcess) => {
  if (m.type === 'close') return exit();
  if (m.type !== 'start') return;
  startLocalFc(m.options).then(
    (fc) => {
      close = () => fc.close();
      send({ type: 'listening', url: fc.url, accountId: fc.accountId, region: fc.region, accessKeyId: fc.accessKeyId });
    },
    (err: unknown) => {
      send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
});
// The agent died or closed the channel: do not outlive it.
process.on('disconnect', exit);
process.on('SIGTERM', exit);
// Ctrl-C reaches the whole process group: the agent drains first (its FC calls still in
// flight need this process), then sends 'close'.
process.on('SIGINT', () => {});
