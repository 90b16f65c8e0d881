/**
 * `npm start`: run the edge agent. Reads the configuration (flags, env, --config file), starts
 * the backends and the HTTP server, prints where it listens, and drains on SIGINT/SIGTERM.
 * With no Function Compute configured, backend `fc` runs against the local FC started
 * in a child process of its own, at a lower priority, with the tiers of s.yaml
 * (edge-agent/dev/embedded-local-fc.ts, `localFcProcess`).
 */
import { ConfigError, helpText, loadConfig } from './config.ts';

async function main(): Promise<number> {
  let loaded;
  try {
    loaded = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`edge-agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (loaded.help) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  // Loaded only now, so --help and config errors answer without loading ONNX Runtime.
  const { startAgent } = await import('./service/agent.ts');
  const { describeChunkSize } = await import('./backends/local-onnx.ts');
  // Development default: with backend fc on and no FC configured, startAgent calls this provider
  // and the local FC runs in its own process (never started for other backends).
  const fc = loaded.config.backends.includes('fc') ? (await import('./dev/embedded-local-fc.ts')).localFcProcess() : undefined;
  const agent = await startAgent(loaded.config, fc ? { fc } : {});
  const fcName = agent.fc?.description ?? agent.fcEndpoint;
  const fcLine = fcName ? `fc (${fcName}, ${agent.tiers.length} tiers)` : null;
  const e = agent.edgeSetup;
  const chunk = !e
    ? ''
    : `${e.workers} worker${e.workers > 1 ? 's' : ''} × ${e.intraOpThreads} intra-op thread${e.intraOpThreads > 1 ? 's' : ''} (${e.layout}), ${describeChunkSize(e.chunkSize === 'whole' ? Infinity : e.chunkSize)}${e.measuredItemsPerS ? `, ${e.measuredItemsPerS} items/s measured at the widest input${e.calibrationCached ? ` (calibration of ${e.calibratedAt?.slice(0, 10)}, cached)` : ''}` : ''}`;
  const live = [...agent.runtime.backendKinds.filter((k) => k !== 'fc').map((k) => (k === 'edge' ? `edge (${loaded.config.model}, ${chunk})` : k)), ...(fcLine ? [fcLine] : [])];
  // Plain lines on stderr for humans and scripts (tests read the URL); JSON logs go to stdout.
  process.stderr.write(`edge agent listening on ${agent.url}\nbackends: ${live.join(', ')}\n`);
  agent.logger.info({ url: agent.url, backends: agent.runtime.backendKinds, targets: agent.runtime.targets }, 'listening');

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        agent.logger.warn({ signal: sig }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      agent.logger.info({ signal: sig, pending: agent.runtime.pending }, 'shutting down: draining');
      process.stderr.write(`edge agent: ${sig}, draining ${agent.runtime.pending} pending requests\n`);
      agent.shutdown().then(
        () => {
          agent.logger.info('shut down');
          resolve(0);
        },
        (err) => {
          agent.logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

main().then(
  (code) => {
    // Let pino flush, then exit even if a stray handle is left open.
    setTimeout(() => process.exit(code), 50).unref();
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`edge-agent: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof Error && err.cause) process.stderr.write(`  cause: ${(err.cause as Error).message ?? String(err.cause)}\n`);
    process.exit(1);
  },
);
