/**
 * FC request signatures, as Function Compute documents them and as `@alicloud/fc2` computes them
 * (lib/helper.js composeStringToSign): `authorization: FC <AccessKeyId>:<signature>`, where the
 * signature is base64(HMAC-SHA256(secret, stringToSign)) and
 *
 *   stringToSign = METHOD \n content-md5 \n content-type \n date \n
 *                  (lower-cased x-fc-* headers, sorted, `name:value\n` each) + path
 *                  [+ \n + sorted `key=value` query lines, only for /proxy/ paths]
 *
 * Pure functions: no clock or secret storage here; the server passes both in.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Request headers as node:http delivers them (lower-cased names). */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/** One header value as the signer saw it (node joins repeated headers with ", "). */
function headerValue(headers: HeaderMap, name: string): string {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}

/** The canonical `x-fc-*` block: lower-cased names, sorted, one `name:value\n` each. */
export function canonicalFcHeaders(headers: HeaderMap): string {
  const names = Object.keys(headers)
    .map((k) => k.toLowerCase().trim())
    .filter((k) => k.startsWith('x-fc-'))
    .sort();
  return names.map((k) => `${k}:${headerValue(headers, k)}\n`).join('');
}

/**
 * The string FC signs.
 * @param path URL path including the API version, e.g. `/2023-03-30/functions/f/invocations`
 * @param query signed only when given (the fc2 client signs queries for `/proxy/` paths only)
 */
export function composeStringToSign(method: string, path: string, headers: HeaderMap, query?: URLSearchParams): string {
  let s = `${method.toUpperCase()}\n${headerValue(headers, 'content-md5')}\n${headerValue(headers, 'content-type')}\n${headerValue(headers, 'date')}\n${canonicalFcHeaders(headers)}${path}`;
  if (query) {
    const lines = [...query.entries()].map(([k, v]) => `${k}=${v}`).sort();
    s += `\n${lines.join('\n')}`;
  }
  return s;
}

/** base64 HMAC-SHA256 of `stringToSign` with `secret`. */
export function signFc(stringToSign: string, secret: string): string {
  return createHmac('sha256', secret).update(stringToSign, 'utf8').digest('base64');
}

/** Why a request was refused; `code` is FC's ErrorCode. */
export interface AuthFailure {
  readonly code: 'InvalidAccessKeyID' | 'SignatureNotMatch' | 'RequestTimeTooSkewed' | 'MissingRequiredHeader';
  readonly message: string;
}

export interface VerifyInput {
  readonly method: string;
  /** Raw URL path (before `?`), including the API version. */
  readonly path: string;
  readonly query?: URLSearchParams;
  readonly headers: HeaderMap;
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly nowMs: number;
  /** Largest accepted |now − date|. @default 900000 (FC's 15 minutes) */
  readonly maxSkewMs?: number;
}

/** Check `authorization` and `date`; `undefined` means the request is authentic. */
export function verifyFcRequest(input: VerifyInput): AuthFailure | undefined {
  const auth = headerValue(input.headers, 'authorization');
  const m = /^FC ([^:\s]+):(\S+)$/.exec(auth);
  if (!m) return { code: 'MissingRequiredHeader', message: 'authorization header must be `FC <AccessKeyId>:<signature>`' };
  const date = headerValue(input.headers, 'date');
  const dateMs = Date.parse(date);
  if (!date || Number.isNaN(dateMs)) return { code: 'MissingRequiredHeader', message: 'date header is missing or not an HTTP date' };
  const skew = Math.abs(input.nowMs - dateMs);
  if (skew > (input.maxSkewMs ?? 15 * 60_000)) {
    return { code: 'RequestTimeTooSkewed', message: `date ${date} is ${Math.round(skew / 1000)} s away from server time (limit 900 s)` };
  }
  if (m[1] !== input.accessKeyId) return { code: 'InvalidAccessKeyID', message: `AccessKeyId ${m[1]} is not known to this server` };
  const expected = Buffer.from(signFc(composeStringToSign(input.method, input.path, input.headers, input.query), input.accessKeySecret));
  const given = Buffer.from(m[2]);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { code: 'SignatureNotMatch', message: 'the request signature does not match the one computed with the AccessKey secret' };
  }
  return undefined;
}

/**
 * Does `content-md5` match the body? Accepts both the RFC 1864 form (base64 of the 16-byte
 * digest) and the form `@alicloud/fc2` sends (base64 of the hex digest string).
 */
export function contentMd5Matches(headerMd5: string, body: Uint8Array): boolean {
  const digest = createHash('md5').update(body).digest();
  return headerMd5 === digest.toString('base64') || headerMd5 === Buffer.from(digest.toString('hex'), 'utf8').toString('base64');
}
