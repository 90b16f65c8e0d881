/**
 * The one HTTP error type of the agent. Every refusal, from a bad header to a missed deadline,
 * becomes `{"error": {"code", "message"}}` with this status (and Retry-After when shedding).
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    /** HTTP status, 4xx or 5xx. */
    readonly status: 400 | 401 | 404 | 413 | 415 | 422 | 500 | 502 | 503 | 504,
    /** Stable machine-readable code, e.g. `deadline_impossible`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
  /** For 503: how long the client should wait; sent as Retry-After (whole seconds, ≥ 1). */
  readonly retryAfterMs?: number;

  /** Body of the response. */
  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Retry-After header value (seconds, at least 1) for a wait in ms. */
export function retryAfterSeconds(ms: number | undefined): string {
  return String(Math.max(1, Math.ceil((ms ?? 1000) / 1000)));
}
