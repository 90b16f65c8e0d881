/**
 * Structured JSON logs (pino). Anything that looks like a credential is redacted wherever it
 * appears in a logged object, so an AccessKey secret or bearer token never reaches the log.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Paths pino censors (any depth up to two levels, plus headers). */
export const REDACT_PATHS = [
  'token',
  'secret',
  'password',
  'accessKeySecret',
  'accessKeyId',
  'securityToken',
  'credentials',
  'authorization',
  '*.token',
  '*.secret',
  '*.password',
  '*.accessKeySecret',
  '*.accessKeyId',
  '*.securityToken',
  '*.credentials',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'config.token',
  'config.fcCredentials',
];

/**
 * Create the agent's logger.
 * @param level pino level, `silent` for none
 * @param destination where lines go (stdout by default; a test passes a stream to read them)
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const opts = { level, base: { service: 'edge-agent' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(opts, destination) : pino(opts);
}
