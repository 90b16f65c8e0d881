/**
 * The `/v2` paths of `/openapi.json` (Open Inference Protocol), built from oip-schemas.ts like
 * the `/v1` paths are from api-schemas.ts.
 */
import type { z } from 'zod';
import { oipErrorSchema, oipInferRequestSchema, oipInferResponseSchema, oipModelConfigSchema, oipModelMetadataSchema, oipServerMetadataSchema } from './oip-schemas.ts';

type Json = (schema: z.ZodType) => Record<string, unknown>;

/** Path items of the protocol; `json` turns a zod schema into an `application/json` content entry. */
export function oipOpenApiPaths(json: Json): Record<string, unknown> {
  const error = (description: string) => ({ description, content: json(oipErrorSchema) });
  const model = { name: 'model', in: 'path', required: true, schema: { type: 'string' }, description: 'The served model (`ocr-rec` by default; see GET /v2/models/{model})' };
  const version = { name: 'version', in: 'path', required: true, schema: { type: 'string', enum: ['1'] }, description: 'The only version, 1' };
  const unknown = error('No such model or version');
  const ready = { 200: { description: 'Ready', content: { 'application/json': { schema: { type: 'object', properties: { ready: { type: 'boolean' } } } } } }, 503: error('Not ready or shutting down (any status but 200 means not ready)') };
  const infer = {
    summary: 'Infer n images (a BYTES tensor, one PNG/JPEG/WebP per element); outputs `text` (BYTES) and `confidence` (FP32) in request order',
    description:
      'JSON body, or the binary tensor data extension: the `Inference-Header-Content-Length` header gives the JSON part\'s length, binary tensors follow it (each BYTES element a 4-byte little-endian length and its bytes). ' +
      '`parameters.timeout` (µs) is the deadline budget. All or nothing: one broken element refuses the whole request (400 before anything is queued; or the failed element\'s status, naming its index).',
    parameters: [{ name: 'Inference-Header-Content-Length', in: 'header', required: false, schema: { type: 'integer', minimum: 0 }, description: 'Length of the JSON part when binary tensor data follows it' }],
    requestBody: {
      required: true,
      content: { ...json(oipInferRequestSchema), 'application/octet-stream': { schema: { type: 'string', format: 'binary' }, description: 'JSON part, then binary tensor data' } },
    },
    responses: {
      200: {
        description: 'Outputs (JSON, or JSON then binary data when an output asked `binary_data`; the header then gives the JSON part\'s length)',
        headers: { 'Inference-Header-Content-Length': { schema: { type: 'integer' }, description: 'Only with binary outputs' } },
        content: { ...json(oipInferResponseSchema), 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
      },
      400: error('Not an inference request: bad JSON, input, shape, datatype, base64, image, parameter or binary framing (names the field or element)'),
      401: error('Token required (AGENT_TOKEN set) and missing or wrong'),
      404: unknown,
      413: error('Body over maxBodyBytes'),
      422: error('An element is over the pixel limit or the model could not read it (names the element)'),
      502: error('Every target that could serve an element failed'),
      503: { ...error('Shedding load or shutting down; see Retry-After'), headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds' } } },
      504: error("An element's deadline cannot be met"),
    },
  };
  const metadata = { summary: 'Model metadata: platform, inputs and outputs (datatype, shape; -1 = variable)', responses: { 200: { description: 'Metadata', content: json(oipModelMetadataSchema) }, 404: unknown } };
  const config = { summary: "Triton's model configuration (max_batch_size, dynamic_batching), as perf_analyzer reads it", responses: { 200: { description: 'Configuration', content: json(oipModelConfigSchema) }, 404: unknown } };
  const modelReady = { summary: 'Model readiness', responses: { ...ready, 404: unknown } };
  return {
    '/v2': { get: { summary: 'Server metadata: name, version, implemented extensions', responses: { 200: { description: 'Metadata', content: json(oipServerMetadataSchema) } } } },
    '/v2/health/live': { get: { summary: 'Liveness (Open Inference Protocol)', responses: { 200: { description: 'Live' } } } },
    '/v2/health/ready': { get: { summary: 'Readiness (Open Inference Protocol)', responses: ready } },
    '/v2/models/{model}': { get: { ...metadata, parameters: [model] } },
    '/v2/models/{model}/ready': { get: { ...modelReady, parameters: [model] } },
    '/v2/models/{model}/config': { get: { ...config, parameters: [model] } },
    '/v2/models/{model}/infer': { post: { ...infer, parameters: [model, ...infer.parameters] } },
    '/v2/models/{model}/versions/{version}': { get: { ...metadata, parameters: [model, version] } },
    '/v2/models/{model}/versions/{version}/ready': { get: { ...modelReady, parameters: [model, version] } },
    '/v2/models/{model}/versions/{version}/config': { get: { ...config, parameters: [model, version] } },
    '/v2/models/{model}/versions/{version}/infer': { post: { ...infer, parameters: [model, version, ...infer.parameters] } },
  };
}
