/**
 * The agent's HTTP API as zod schemas: the bodies it answers with and the inputs it reads.
 * They are the source of `GET /openapi.json`, and the HTTP tests parse real answers with them,
 * so the document cannot drift from what the agent really sends.
 */
import { z } from 'zod';

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable machine-readable code, e.g. `deadline_impossible`', example: 'bad_deadline' }),
      message: z.string().meta({ description: 'What is wrong, for a person' }),
    }),
  });

export const labelSchema = z.object({ label: z.string(), score: z.number() });

export const inferAnswerSchema = z
  .object({
    id: z.string(),
    text: z.string().optional().meta({ description: 'Recognised text (OCR models)' }),
    confidence: z.number().min(0).max(1).optional(),
    labels: z.array(labelSchema).optional().meta({ description: 'Top-k labels (classifier models)' }),
    route: z.object({
      target: z.enum(['edge', 'fc']),
      tier: z.string().optional().meta({ description: 'Tier key from s.yaml when target is fc' }),
      batchSize: z.number().int().positive(),
    }),
    timings: z.object({
      queueMs: z.number().min(0),
      transferMs: z.number().min(0),
      inferMs: z.number().min(0),
      totalMs: z.number().min(0),
    }),
    costUsd: z.number().min(0).meta({ description: "This request's share of its batch's FC bill" }),
    deadlineMet: z.boolean(),
  });

export const batchEntrySchema = z.union([
  inferAnswerSchema.extend({ name: z.string(), status: z.literal(200) }),
  z.object({ name: z.string(), status: z.number().int(), error: errorBodySchema.shape.error }),
]);

export const batchAnswerSchema = z
  .object({ count: z.number().int(), failed: z.number().int(), results: z.array(batchEntrySchema) });

export const base64ImageSchema = z.object({ image: z.string().meta({ description: 'base64 of a PNG, JPEG or WebP image' }) });

export const readyAnswerSchema = z.object({ ready: z.boolean(), backends: z.array(z.string()).optional(), targets: z.array(z.string()).optional() });

const targetBatchesSchema = z.object({ batches: z.number().int().min(0), items: z.number().int().min(0), maxBatchSize: z.number().int().min(0) });

export const historyPointSchema = z.object({
  seq: z.number().int().positive(),
  epochMs: z.number(),
  arrivals: z.number().int().min(0).meta({ description: 'Requests admitted since the previous point' }),
  rateRps: z.number().min(0).meta({ description: 'Measured arrival rate, 5-s window' }),
  rateEstimateRps: z.number().min(0).nullable().meta({ description: "The core's estimate (BOCPD segment)" }),
  rateShownRps: z.number().min(0).nullable().meta({ description: 'The estimate capped at 3 / seconds since the last arrival (what the dashboard draws)' }),
  sinceArrivalMs: z.number().min(0).nullable(),
  uplinkMbps: z.number().nullable(),
  queueDepth: z.number().int().min(0),
  inFlight: z.number().int().min(0),
  answered: z.number().int().min(0),
  deadlineMet: z.number().int().min(0),
  deadlineAttainment: z.number().min(0).max(1).nullable(),
  costUsd: z.number().min(0),
  costPer1000Usd: z.number().min(0).nullable(),
  rejected: z.number().int().min(0),
  replans: z.number().int().min(0),
  changepoints: z.number().int().min(0),
  answeredBy: z.record(z.string(), z.number().int().positive()).meta({ description: 'Items answered since the previous point, by target' }),
  batches: z.record(z.string(), targetBatchesSchema).meta({ description: 'Batches completed since the previous point, by target' }),
});

export const historyEventSchema = z.object({ seq: z.number().int().positive(), type: z.string(), epochMs: z.number(), data: z.unknown() });

export const historySchema = z.object({
  windowMs: z.number().int().positive(),
  stepMs: z.number().int().positive(),
  seq: z.number().int().min(0).meta({ description: 'Pass as `?after=` to get only newer points and events' }),
  points: z.array(historyPointSchema).meta({ description: 'The last 15 min of 1-s statistics, oldest first' }),
  events: z.array(historyEventSchema).meta({ description: 'The last 500 events (dispatch, complete, changepoint, replan, …), oldest first' }),
  changepoints: z.array(historyEventSchema).meta({ description: 'Changepoint events of the whole window' }),
});
