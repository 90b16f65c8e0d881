/**
 * What the agent tells about itself: `/v1/plan`, `/v1/events` (SSE), `/metrics` (Prometheus),
 * `/healthz` (the process is up) and `/readyz` (backends loaded, not shutting down).
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { AgentRuntime } from './runtime.ts';

/** Comment line sent on idle SSE streams so proxies keep them open. */
const SSE_KEEPALIVE_MS = 15_000;

export function statusRoutes(runtime: AgentRuntime): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ ok: true }));

  app.get('/readyz', (c) =>
    runtime.ready
      ? c.json({ ready: true, backends: runtime.backendKinds, targets: runtime.targets })
      : c.json({ ready: false, error: { code: runtime.isDraining ? 'shutting_down' : 'not_ready', message: runtime.isDraining ? 'the agent is shutting down' : 'backends are not up' } }, 503),
  );

  app.get('/v1/plan', (c) => c.json(runtime.planSnapshot()));

  app.get('/metrics', async (c) => {
    const body = await runtime.metrics.registry.metrics();
    return c.body(body, 200, { 'content-type': runtime.metrics.registry.contentType });
  });

  app.get('/v1/events', (c) =>
    streamSSE(c, async (stream) => {
      const sub = runtime.events.subscribe();
      stream.onAbort(() => sub.close());
      // A first snapshot at once, so a client need not wait a second to see anything.
      await stream.writeSSE({ event: 'stats', data: JSON.stringify(runtime.stats()) });
      const keepalive = setInterval(() => void stream.write(': keepalive\n\n').catch(() => sub.close()), SSE_KEEPALIVE_MS);
      try {
        for (;;) {
          const ev = await sub.next();
          if (!ev || stream.aborted || stream.closed) break;
          await stream.writeSSE({ event: ev.type, data: JSON.stringify(ev.data) });
        }
      } finally {
        clearInterval(keepalive);
        sub.close();
      }
    }),
  );

  return app;
}
