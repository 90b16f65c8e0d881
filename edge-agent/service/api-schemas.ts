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
