/**
 * y ≈ a + k·x by recursive least squares with exponential forgetting, in its normal-equation
 * form: decayed sums Σw, Σwx, Σwx², Σwy, Σwxy updated in O(1) per sample. A prior line enters
 * as pseudo-observations that do NOT decay, so a long run at one x cannot wind the unexcited
 * direction up (the failure of covariance-form RLS with forgetting) and the fit falls back to
 * the prior where data say nothing.
 */
import { checkNumber } from './validate.ts';

/** Options of {@link DecayedLinearFit}. */
export interface LinearFitOptions {
  /** Weight kept by old samples per new sample (1 = no forgetting). @default 0.98 */
  readonly forgetting?: number;
  /** Total weight of the prior line, in samples. @default 4 */
  readonly priorWeight?: number;
  /** The two x where the prior line is pinned (its pseudo-observations). @default [1, 16] */
  readonly priorAt?: readonly [number, number];
}

/** Online weighted linear regression with forgetting and a non-decaying prior. */
export class DecayedLinearFit {
  readonly forgetting: number;
  readonly priorWeight: number;
  private sw = 0;
  private sx = 0;
  private sxx = 0;
  private sy = 0;
  private sxy = 0;
  private n = 0;
  private aFit: number;
  private kFit: number;
  private readonly p0: number;
  private readonly p1: number;

  constructor(
    private priorA: number,
    private priorK: number,
    opts: LinearFitOptions = {},
  ) {
    this.forgetting = checkNumber('forgetting', opts.forgetting ?? 0.98, 0, 1, true);
    this.priorWeight = checkNumber('priorWeight', opts.priorWeight ?? 4, 0);
    [this.p0, this.p1] = opts.priorAt ?? [1, 16];
    this.aFit = priorA;
    this.kFit = priorK;
  }

  /** Samples absorbed since the last reset. */
  get samples(): number {
    return this.n;
  }
  get a(): number {
    return this.aFit;
  }
  get k(): number {
    return this.kFit;
  }

  /** Mean prediction a + k·x. */
  predict(x: number): number {
    return this.aFit + this.kFit * x;
  }

  /** Add one sample (x, y). */
  observe(x: number, y: number): void {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    const f = this.forgetting;
    this.sw = this.sw * f + 1;
    this.sx = this.sx * f + x;
    this.sxx = this.sxx * f + x * x;
    this.sy = this.sy * f + y;
    this.sxy = this.sxy * f + x * y;
    this.n++;
    this.solve();
  }

  /** Drop all samples (keep the prior), e.g. after a changepoint. */
  reset(): void {
    this.sw = this.sx = this.sxx = this.sy = this.sxy = 0;
    this.n = 0;
    this.solve();
  }

  /** Move the prior (e.g. to the last regime's fit) without touching samples. */
  setPrior(a: number, k: number): void {
    this.priorA = a;
    this.priorK = k;
    this.solve();
  }

  private solve(): void {
    const h = this.priorWeight / 2;
    const y0 = this.priorA + this.priorK * this.p0;
    const y1 = this.priorA + this.priorK * this.p1;
    const w = this.sw + 2 * h;
    const x = this.sx + h * (this.p0 + this.p1);
    const xx = this.sxx + h * (this.p0 * this.p0 + this.p1 * this.p1);
    const y = this.sy + h * (y0 + y1);
    const xy = this.sxy + h * (this.p0 * y0 + this.p1 * y1);
    const det = w * xx - x * x;
    let a: number;
    let k: number;
    if (w <= 0) {
      a = this.priorA;
      k = this.priorK;
    } else if (Math.abs(det) < 1e-12 * Math.max(1, w * xx)) {
      // All x equal: only the level is identified; keep the prior slope through the mean.
      k = this.priorK;
      a = (y - k * x) / w;
    } else {
      k = (w * xy - x * y) / det;
      a = (y - k * x) / w;
    }
    // Latency and transfer lines never slope down or start below zero.
    if (k < 0) {
      k = 0;
      a = y / w;
    }
    if (a < 0) {
      a = 0;
      k = xx > 0 ? Math.max(0, xy / xx) : k;
    }
    this.aFit = a;
    this.kFit = k;
  }
}

/** A fixed-size window of recent residuals with cached upper quantiles. */
export class ResidualWindow {
  private readonly buf: Float64Array;
  private count = 0;
  private next = 0;
  private dirty = true;
  private q95 = 0;
  private q99 = 0;

  constructor(readonly capacity = 256) {
    this.buf = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(r: number): void {
    if (!Number.isFinite(r)) return;
    this.buf[this.next] = r;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.dirty = true;
  }

  clear(): void {
    this.count = 0;
    this.next = 0;
    this.dirty = true;
  }

  /** Empirical q95 and q99 (0 when empty). */
  quantiles(): { q95: number; q99: number } {
    if (this.dirty) {
      const s = this.buf.slice(0, this.count).sort();
      const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : 0);
      this.q95 = at(0.95);
      this.q99 = at(0.99);
      this.dirty = false;
    }
    return { q95: this.q95, q99: this.q99 };
  }
}
