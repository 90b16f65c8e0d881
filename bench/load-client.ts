/**
 * The load of `npm run bench:overload`: a closed loop (each of `connections` clients sends its
 * next request when the previous one is answered) or an open loop (requests leave on schedule
 * at `rps` whether or not earlier ones were answered), every answer recorded as a {@link Shot}.
 *
 * Imported, it runs in the caller's process (the bench's default: on the agent's event loop).
 * Run as a script it is the bench's client process (`--client process`): it reads one
 * {@link LoadJob} as JSON on stdin and prints its shots as JSON on stdout, so the client's own
 * work (about the server's per request, 3× as much at 3× load) leaves the agent's event loop —
 * and competes with the edge worker and the local FC instead (bench/overload.ts has figures).
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';

export interface Shot {
  sentMs: number;
  status: number; // 0 = no answer (lost / network error)
  latencyMs: number;
  retryAfter: boolean;
  deadlineMet: boolean;
  batchSize?: number;
  target?: string;
  code?: string;
}

export interface LoadJob {
  readonly url: string;
  readonly deadlineMs: number;
  /** Bodies sent in turn (PNG). */
  readonly images: readonly Uint8Array<ArrayBuffer>[];
  readonly mode: 'closed' | 'open';
  /** Closed loop: clients. */
  readonly connections?: number;
  /** Open loop: requests per second. */
  readonly rps?: number;
  readonly seconds: number;
}

let seq = 0;
// node:http with a keep-alive pool rather than fetch: under 3× overload the in-process client's
// fetch (undici's streams and promises) took 34 % of a core, more than the agent's whole HTTP
// path (21 %), and that CPU came out of the edge workers' share (a real client is elsewhere).
const pool = new HttpAgent({ keepAlive: true, maxSockets: 512 });

interface Reply {
  readonly status: number;
  readonly retryAfter: boolean;
  readonly body: string;
}

function post(url: URL, body: Uint8Array, deadlineMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: pool, headers: { 'content-type': 'image/png', 'content-length': body.byteLength, 'x-deadline-ms': String(deadlineMs) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] !== undefined, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function shot(job: LoadJob): Promise<Shot> {
  const sentMs = performance.now();
  const body = job.images[seq++ % job.images.length];
  try {
    const r = await post(new URL(`${job.url}/v1/infer`), body, job.deadlineMs);
    const latencyMs = performance.now() - sentMs;
    const j = JSON.parse(r.body) as { deadlineMet?: boolean; route?: { batchSize: number; target: string; tier?: string }; error?: { code?: string; message?: string } };
    if (r.status !== 200 && process.env.BENCH_VERBOSE && Math.random() < 0.05) console.error(r.status, JSON.stringify(j.error));
    return {
      sentMs,
      status: r.status,
      latencyMs,
      retryAfter: r.retryAfter,
      deadlineMet: r.status === 200 && latencyMs <= job.deadlineMs,
      ...(j.error?.code ? { code: j.error.code } : {}),
      ...(j.route ? { batchSize: j.route.batchSize, target: j.route.tier ?? j.route.target } : {}),
    };
  } catch {
    return { sentMs, status: 0, latencyMs: performance.now() - sentMs, retryAfter: false, deadlineMet: false };
  }
}

/** Run one job in this process. */
export async function runLoad(job: LoadJob): Promise<Shot[]> {
  if (job.mode === 'closed') {
    const out: Shot[] = [];
    const until = performance.now() + job.seconds * 1000;
    await Promise.all(
      Array.from({ length: job.connections ?? 1 }, async () => {
        while (performance.now() < until) {
          const s = await shot(job);
          out.push(s);
          // A shed request: honour a short back-off so the closed loop does not spin on 503s.
          if (s.status !== 200) await new Promise((r) => setTimeout(r, 20));
        }
      }),
    );
    return out;
  }
  const rps = job.rps ?? 1;
  const pending: Promise<Shot>[] = [];
  const t0 = performance.now();
  const n = Math.round(rps * job.seconds);
  for (let i = 0; i < n; i++) {
    const at = t0 + (i * 1000) / rps;
    const wait = at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(shot(job));
  }
  return Promise.all(pending);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let input = '';
  process.stdin.setEncoding('utf8');
  for await (const c of process.stdin) input += c;
  const raw = JSON.parse(input) as Omit<LoadJob, 'images'> & { images: string[] };
  const shots = await runLoad({ ...raw, images: raw.images.map((b) => new Uint8Array(Buffer.from(b, 'base64'))) });
  process.stdout.write(JSON.stringify(shots));
}
