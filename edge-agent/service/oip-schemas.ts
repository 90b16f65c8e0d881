/**
 * The Open Inference Protocol (KServe v2 REST) bodies the agent reads and writes, as zod
 * schemas. They validate requests (with messages that name the field), feed `/openapi.json`,
 * and the tests parse real answers with them.
 *
 * Field names and types follow the protocol's documents (`$inference_request`,
 * `$inference_response`, `$metadata_model_response`, …), not this server's internals.
 */
import { z } from 'zod';

/** A protocol parameter value: the protocol allows bool, number or string. */
const parameterValue = z.union([z.boolean(), z.number(), z.string()]);
const parameters = z.record(z.string(), parameterValue);

/** `$request_input` */
export const oipRequestInputSchema = z.object({
  name: z.string().meta({ description: 'Input tensor name; this model has one, `image`' }),
  shape: z.array(z.number().int().min(0)).meta({ description: '`[n]` (or `[n, 1]`): n encoded images', example: [2] }),
  datatype: z.string().meta({ description: 'Must be `BYTES`', example: 'BYTES' }),
  parameters: parameters.optional().meta({ description: '`binary_data_size`: bytes of this tensor in the binary part of the body (binary tensor data extension)' }),
  data: z.unknown().optional().meta({ description: 'Base64 strings, one per image (flat or nested to the shape); absent when the tensor is binary' }),
});

/** `$request_output` */
export const oipRequestOutputSchema = z.object({
  name: z.string().meta({ description: '`text` or `confidence`' }),
  parameters: parameters.optional().meta({ description: '`binary_data: true` returns this output as binary data' }),
});

/** `$inference_request` */
export const oipInferRequestSchema = z.object({
  id: z.string().optional().meta({ description: 'Echoed in the response' }),
  parameters: parameters
    .optional()
    .meta({ description: '`timeout` (µs, schedule-policy extension): the deadline budget, 0 = the agent\'s default; `priority` (accepted, the queue is earliest-deadline-first); `binary_data_output`: every output as binary data' }),
  inputs: z.array(oipRequestInputSchema).meta({ description: 'Exactly one input, `image`' }),
  outputs: z.array(oipRequestOutputSchema).optional().meta({ description: 'Outputs to return (default: all)' }),
});

/** `$response_output` */
export const oipResponseOutputSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int()),
  datatype: z.enum(['BYTES', 'FP32']),
  parameters: z.object({ binary_data_size: z.number().int().min(0) }).optional().meta({ description: 'Present when the output is in the binary part of the body' }),
  data: z.array(z.union([z.string(), z.number()])).optional().meta({ description: 'Recognised text (BYTES, as UTF-8 strings) or confidence (FP32), in request order' }),
});

/** `$inference_response` */
export const oipInferResponseSchema = z.object({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string().optional(),
  parameters: z
    .object({
      deadline_met: z.boolean().meta({ description: 'Every image was answered before its deadline' }),
      cost_usd: z.number().min(0).meta({ description: 'The images\' share of their batches\' FC bill' }),
      routes: z.string().meta({ description: 'Where each image ran, comma-separated in request order (`edge` or a tier key)', example: 'edge,tier-c1-m2048' }),
    })
    .optional(),
  outputs: z.array(oipResponseOutputSchema),
});

/** `$inference_error_response` and every other error of the protocol. */
export const oipErrorSchema = z.object({ error: z.string().meta({ description: 'What is wrong, naming the field or the element index' }) });

/** `$metadata_server_response` */
export const oipServerMetadataSchema = z.object({
  name: z.string(),
  version: z.string(),
  extensions: z.array(z.string()).meta({ description: 'Protocol extensions this server implements' }),
});

const tensorMetadata = z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.number().int()).meta({ description: '-1 marks a variable dimension' }) });

/** `$metadata_model_response` */
export const oipModelMetadataSchema = z.object({
  name: z.string(),
  versions: z.array(z.string()).optional(),
  platform: z.string(),
  inputs: z.array(tensorMetadata),
  outputs: z.array(tensorMetadata),
});

/** Triton's model configuration (the subset perf_analyzer reads), `GET /v2/models/{model}/config`. */
export const oipModelConfigSchema = z.object({
  name: z.string(),
  platform: z.string(),
  backend: z.string(),
  max_batch_size: z.number().int().min(0).meta({ description: 'Most images in one request (the agent batches across requests on its own)' }),
  input: z.array(z.object({ name: z.string(), data_type: z.string(), dims: z.array(z.number().int()), reshape: z.object({ shape: z.array(z.number().int()) }).optional() })),
  output: z.array(z.object({ name: z.string(), data_type: z.string(), dims: z.array(z.number().int()), reshape: z.object({ shape: z.array(z.number().int()) }).optional() })),
  dynamic_batching: z.object({
    max_queue_delay_microseconds: z.number().int().min(0),
    default_queue_policy: z.object({ timeout_action: z.string(), default_timeout_microseconds: z.number().int(), allow_timeout_override: z.boolean(), max_queue_size: z.number().int() }),
  }),
});

/** One line per problem of a failed zod parse: "`inputs[0].shape`: expected array". */
export function describeIssues(error: z.ZodError, root = 'body'): string {
  return error.issues
    .slice(0, 3)
    .map((i) => {
      const path = i.path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '');
      return `\`${path || root}\`: ${i.message}`;
    })
    .join('; ');
}
