/**
 * `GET /openapi.json`: the agent's API as an OpenAPI 3.1 document, generated from the zod
 * schemas in api-schemas.ts (zod 4's JSON Schema output is OpenAPI 3.1 compatible).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { base64ImageSchema, batchAnswerSchema, errorBodySchema, historySchema, inferAnswerSchema, readyAnswerSchema } from './api-schemas.ts';
import { oipOpenApiPaths } from './oip-openapi.ts';

function schemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}
const json = (schema: z.ZodType) => ({ 'application/json': { schema: schemaOf(schema) } });
const error = (description: string) => ({ description, content: json(errorBodySchema) });

const deadlineParams = [
  { name: 'X-Deadline-Ms', in: 'header', required: false, schema: { type: 'number', exclusiveMinimum: 0 }, description: 'Budget in ms from arrival (default: the agent\'s defaultDeadlineMs, 1000)' },
  { name: 'deadline_ms', in: 'query', required: false, schema: { type: 'number', exclusiveMinimum: 0 }, description: 'Same as X-Deadline-Ms' },
  { name: 'model', in: 'query', required: false, schema: { type: 'string' }, description: 'Must name the served model (400 unknown_model otherwise)' },
];

const inferErrors = {
  400: error('Bad image, deadline, body or model name'),
  408: error('Headers or body arrived too slowly (connection closed)'),
  401: error('Token required (AGENT_TOKEN set) and missing or wrong'),
  413: error('Body over maxBodyBytes'),
  415: error('Unsupported Content-Type'),
  422: error('The image is over the pixel limit, or the model could not read it'),
  431: error('Request headers over maxHeaderBytes'),
  502: error('Every target that could serve it failed'),
  503: { ...error('Shedding load or shutting down; see Retry-After'), headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds' } } },
  504: error('The deadline cannot be met (decided early, with the reason)'),
};

/** The OpenAPI document. */
export function openApiDocument(version = '0.1.0'): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'serverless-edge-batching edge agent',
      version,
      description: 'Deadline-aware batch inference on the device, with Function Compute tiers as overflow.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Only when the agent runs with AGENT_TOKEN' } } },
    paths: {
      '/v1/infer': {
        post: {
          summary: 'Infer one image',
          parameters: deadlineParams,
          requestBody: {
            required: true,
            content: {
              'image/png': { schema: { type: 'string', format: 'binary' } },
              'image/jpeg': { schema: { type: 'string', format: 'binary' } },
              'image/webp': { schema: { type: 'string', format: 'binary' } },
              'multipart/form-data': { schema: { type: 'object', properties: { image: { type: 'string', format: 'binary' } }, required: ['image'] } },
              ...json(base64ImageSchema),
            },
          },
          responses: { 200: { description: 'The result, its route, timings and cost', content: json(inferAnswerSchema) }, ...inferErrors },
        },
      },
      '/v1/infer/batch': {
        post: {
          summary: 'Infer several images of one multipart request (one result each)',
          parameters: deadlineParams,
          requestBody: { required: true, content: { 'multipart/form-data': { schema: { type: 'object', additionalProperties: { type: 'string', format: 'binary' } } } } },
          responses: { 200: { description: 'One entry per image, in order', content: json(batchAnswerSchema) }, ...inferErrors },
        },
      },
      '/v1/plan': { get: { summary: 'Current plan and estimates (rate, bandwidth, latency fits, tier costs)', responses: { 200: { description: 'Plan and estimates', content: { 'application/json': { schema: { type: 'object' } } } } } } },
      '/v1/history': {
        get: {
          summary: 'The last 15 min of 1-s statistics and the last 500 events (what the dashboard draws on open)',
          parameters: [{ name: 'after', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'Only points and events with a larger `seq` (from an earlier answer)' }],
          responses: { 200: { description: 'History', content: json(historySchema) }, 400: error('`after` is not a whole number') },
        },
      },
      '/v1/events': { get: { summary: 'Server-sent events: dispatches, completions, changepoints, plan changes, stats', responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'The process is up' } } } },
      '/readyz': { get: { summary: 'Readiness', responses: { 200: { description: 'Backends up', content: json(readyAnswerSchema) }, 503: error('Not ready or shutting down') } } },
      '/': { get: { summary: 'Live dashboard (HTML)', responses: { 200: { description: 'text/html' } } } },
      ...oipOpenApiPaths(json),
    },
  };
}

/** Routes serving the document. */
export function openApiRoutes(): Hono {
  const doc = openApiDocument();
  return new Hono().get('/openapi.json', (c) => c.json(doc));
}
