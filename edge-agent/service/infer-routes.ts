/**
 * The inference API: `POST /v1/infer` (one image) and `POST /v1/infer/batch` (several images in
 * one multipart or JSON request, one result per image). Each image is its own request to the
 * scheduler with the same deadline; the scheduler may batch them with anybody's.
 */
import { Hono } from 'hono';
import { HttpError, retryAfterSeconds } from './errors.ts';
import { readImages } from './image-input.ts';
import type { AgentRuntime, InferAnswer } from './runtime.ts';

export interface InferRoutesOptions {
  /** Budget when a request names none, ms. */
  readonly defaultDeadlineMs: number;
  /** Largest budget a request may ask for, ms. */
  readonly maxDeadlineMs: number;
  /** The model this agent serves (all targets run the same one). */
  readonly model?: string;
}

/** A request may name the model it expects (`?model=`); any other than the served one is refused. */
export function checkModel(asked: string | undefined, served: string | undefined): void {
  if (asked === undefined) return;
  if (asked !== served) {
    const shown = JSON.stringify(asked.slice(0, 64));
    throw new HttpError(400, 'unknown_model', served ? `model ${shown} is not served here; this agent serves "${served}"` : `model ${shown} is not served here; this agent does not name its model, leave out \`model\``);
  }
}

/** The deadline budget of a request, from `X-Deadline-Ms` or `?deadline_ms=`, else the default. */
export function deadlineBudgetMs(header: string | undefined, query: string | undefined, opts: InferRoutesOptions): number {
  const raw = header ?? query;
  const where = header !== undefined ? 'X-Deadline-Ms header' : 'deadline_ms query parameter';
  if (raw === undefined || raw.trim() === '') return opts.defaultDeadlineMs;
  const v = /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(v) || v <= 0) throw new HttpError(400, 'bad_deadline', `Expected the ${where} to be a number of ms > 0, got \`${raw.slice(0, 40)}\``);
  if (v > opts.maxDeadlineMs) throw new HttpError(400, 'bad_deadline', `Expected the ${where} to be ≤ ${opts.maxDeadlineMs} ms (maxDeadlineMs), got \`${raw.slice(0, 40)}\``);
  return v;
}

/** One entry of a batch response: the answer, or the error of that image. */
export type BatchEntry = ({ readonly name: string; readonly status: 200 } & InferAnswer) | { readonly name: string; readonly status: number; readonly error: { code: string; message: string } };

export function inferRoutes(runtime: AgentRuntime, opts: InferRoutesOptions): Hono {
  const app = new Hono();

  app.post('/v1/infer', async (c) => {
    checkModel(c.req.query('model'), opts.model);
    const budgetMs = deadlineBudgetMs(c.req.header('x-deadline-ms'), c.req.query('deadline_ms'), opts);
    const [image] = await readImages(c.req, false);
    const answer = await runtime.infer({ type: image.type, bytes: image.bytes }, budgetMs, '/v1/infer');
    return c.json(answer);
  });

  app.post('/v1/infer/batch', async (c) => {
    checkModel(c.req.query('model'), opts.model);
    const budgetMs = deadlineBudgetMs(c.req.header('x-deadline-ms'), c.req.query('deadline_ms'), opts);
    const images = await readImages(c.req, true);
    const settled = await Promise.allSettled(images.map((img) => runtime.infer({ type: img.type, bytes: img.bytes }, budgetMs, '/v1/infer/batch')));
    const results: BatchEntry[] = settled.map((s, i) => {
      const name = images[i].name;
      if (s.status === 'fulfilled') return { name, status: 200, ...s.value };
      const e = s.reason instanceof HttpError ? s.reason : new HttpError(500, 'internal', String(s.reason));
      return { name, status: e.status, error: e.toJSON().error };
    });
    const failed = results.filter((r) => r.status !== 200);
    // All refused for the same reason (e.g. shedding): answer that status, not a 200 of errors.
    if (failed.length === results.length && new Set(failed.map((r) => r.status)).size === 1) {
      const first = settled[0] as PromiseRejectedResult;
      const e = first.reason instanceof HttpError ? first.reason : new HttpError(500, 'internal', String(first.reason));
      if (e.status === 503) c.header('Retry-After', retryAfterSeconds(e.retryAfterMs));
      return c.json({ error: e.toJSON().error, results }, e.status);
    }
    return c.json({ count: results.length, failed: failed.length, results });
  });

  return app;
}
