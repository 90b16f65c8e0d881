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
async function shot(job: LoadJob): Promise<Shot> {
  const sentMs = performance.now();
  const body = job.images[seq++ % job.images.length];
  try {
    const r = await fetch(`${job.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': String(job.deadlineMs) }, body });
    const j = (await r.json()) as { deadlineMet?: boolean; route?: { batchSize: number; target: string; tier?: string }; error?: { code?: string; message?: string } };
    if (r.status !== 200 && process.env.BENCH_VERBOSE && Math.random() < 0.05) console.error(r.status, JSON.stringify(j.error));
    const latencyMs = performance.now() - sentMs;
    return {
      sentMs,
      status: r.status,
      latencyMs,
      retryAfter: r.headers.has('retry-after'),
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
