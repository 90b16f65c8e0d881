/**
 * The bare Hono echo of `npm run bench:agent`'s overhead figure, as a process of its own
 * (`--separate`): it reads the body and answers JSON, as bench/agent.ts's in-process echo does.
 * Plain JavaScript, so it runs under plain Node as the compiled agent (`edge-agent/start.mjs`) does.
 * Prints `echo on <url>` on stderr once listening; exits on SIGTERM or SIGINT.
 * Usage: node bench/echo-server.mjs [port]   (0 or none: any free port)
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.post('/echo', async (c) => {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  return c.json({ id: 'x', text: '', bytes: bytes.length });
});
serve({ fetch: app.fetch, port: Number(process.argv[2] ?? 0), hostname: '127.0.0.1' }, (info) => process.stderr.write(`echo on http://127.0.0.1:${info.port}/echo\n`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
