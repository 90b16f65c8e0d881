/** Option checks that throw one message shape: "Expected `maxWaitMs` to be a finite number ≥ 0, got `-3`". */

/** Thrown when a core component is built with a bad option. */
export class CoreOptionError extends RangeError {
  override name = 'CoreOptionError';
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** A finite number ≥ min (and ≤ max when given). */
export function checkNumber(name: string, v: unknown, min: number, max = Infinity, strictMin = false): number {
  const okMin = typeof v === 'number' && (strictMin ? v > min : v >= min);
  if (typeof v !== 'number' || !Number.isFinite(v) || !okMin || v > max) {
    const range = `${strictMin ? '>' : '≥'} ${min}${max < Infinity ? ` and ≤ ${max}` : ''}`;
    throw new CoreOptionError(`Expected \`${name}\` to be a finite number ${range}, got \`${show(v)}\``);
  }
  return v;
}

/** An integer ≥ min (and ≤ max). */
export function checkInt(name: string, v: unknown, min: number, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new CoreOptionError(`Expected \`${name}\` to be an integer ≥ ${min}${max < Infinity ? ` and ≤ ${max}` : ''}, got \`${show(v)}\``);
  }
  return v;
}

/** A probability strictly between 0 and 1. */
export function checkProbability(name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v > 0 && v < 1)) {
    throw new CoreOptionError(`Expected \`${name}\` to be a number in (0, 1), got \`${show(v)}\``);
  }
  return v;
}

/** One of the listed string values. */
export function checkOneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new CoreOptionError(`Expected \`${name}\` to be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got \`${show(v)}\``);
  }
  return v as T;
}
