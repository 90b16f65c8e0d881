/**
 * y ≈ a + k·x by recursive least squares with exponential forgetting, in its normal-equation
 * form: decayed sums Σw, Σwx, Σwx², Σwy, Σwxy updated in O(1) per sample. The prior enters as
 * ridge penalties ρa·(a − a0)² + ρk·(k − k0)² that do NOT decay, so a long run at one x cannot
 * wind the unexcited direction up (the failure of covariance-form RLS with forgetting) and the
 * fit falls back to the prior where data say nothing. ρk = priorWeightK · xRef², i.e. the weight
 * of that many samples at x = xRef; a weak slope prior lets the slope absorb a level change
 * seen at a single x (the link: bandwidth moves far more often than rtt).
 */
import { quantileSorted } from '../../shared/stats.ts';
import { checkNumber } from './validate.ts';

/** Options of {@link DecayedLinearFit}. */
export interface LinearFitOptions {
  /** Weight kept by old samples per new sample (1 = no forgetting). @default 0.98 */
  readonly forgetting?: number;
  /** Weight of the prior intercept, in samples. @default 2 */
  readonly priorWeightA?: number;
  /** Weight of the prior slope, in samples at x = xRef. @default 2 */
  readonly priorWeightK?: number;
  /** Reference x for the slope prior's weight. @default 8 */
  readonly xRef?: number;
}

/** Online weighted linear regression with forgetting and a non-decaying prior. */
export class DecayedLinearFit {
  readonly forgetting: number;
  private readonly rhoA: number;
  private readonly rhoK: number;
  private sw = 0;
  private sx = 0;
  private sxx = 0;
  private sy = 0;
  private sxy = 0;
  private n = 0;
  private aFit: number;
  private kFit: number;

  constructor(
    private priorA: number,
    private priorK: number,
    opts: LinearFitOptions = {},
  ) {
    this.forgetting = checkNumber('forgetting', opts.forgetting ?? 0.98, 0, 1, true);
    this.rhoA = checkNumber('priorWeightA', opts.priorWeightA ?? 2, 0);
    const xRef = checkNumber('xRef', opts.xRef ?? 8, 0, Infinity, true);
    this.rhoK = checkNumber('priorWeightK', opts.priorWeightK ?? 2, 0) * xRef * xRef;
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
    // [Sw+ρa, Sx; Sx, Sxx+ρk]·[a; k] = [Sy + ρa·a0; Sxy + ρk·k0]
    const m00 = this.sw + this.rhoA;
    const m01 = this.sx;
    const m11 = this.sxx + this.rhoK;
    const r0 = this.sy + this.rhoA * this.priorA;
    const r1 = this.sxy + this.rhoK * this.priorK;
    const det = m00 * m11 - m01 * m01;
    let a = this.priorA;
    let k = this.priorK;
    if (det > 1e-300 * Math.max(1, m00 * m11)) {
      a = (r0 * m11 - m01 * r1) / det;
      k = (m00 * r1 - m01 * r0) / det;
    } else if (m00 > 0) {
      a = (r0 - m01 * k) / m00;
    }
    // Latency and transfer lines never slope down or start below zero: refit the other term.
    if (k < 0) {
      k = 0;
      a = m00 > 0 ? r0 / m00 : this.priorA;
    }
    if (a < 0) {
      a = 0;
      k = m11 > 0 ? Math.max(0, r1 / m11) : k;
    }
    this.aFit = a;
    this.kFit = k;
  }
}

/**
 * A fixed-size window of recent residuals with cached upper quantiles. With `forgetting` < 1 the
 * quantiles weigh a residual k pushes old by forgetting^k, as a decayed fit weighs its samples:
 * one outlier then stops setting q95 after a few dozen new residuals instead of the whole window
 * (what keeps a sparsely observed link pessimistic long after an outage).
 */
export class ResidualWindow {
  private readonly buf: Float64Array;
  private count = 0;
  private next = 0;
  private dirty = true;
  private q95 = 0;
  private q99 = 0;

  constructor(
    readonly capacity = 256,
    readonly forgetting = 1,
  ) {
    this.buf = new Float64Array(capacity);
    checkNumber('forgetting', forgetting, 0, 1, true);
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

  /** Empirical (weighted) q95 and q99 (0 when empty). */
  quantiles(): { q95: number; q99: number } {
    if (this.dirty) {
      if (this.forgetting === 1) {
        const s = this.buf.slice(0, this.count).sort();
        this.q95 = quantileSorted(s, 0.95) ?? 0;
        this.q99 = quantileSorted(s, 0.99) ?? 0;
      } else {
        // (value, weight) pairs, newest weight 1; the smallest value whose cumulative weight from
        // below reaches q of the total (quantileSorted's nearest rank, weighted).
        const n = this.count;
        const order = Array.from({ length: n }, (_, i) => i);
        const value = (i: number) => this.buf[(this.next - 1 - i + this.capacity) % this.capacity]; // i = age
        order.sort((x, y) => value(x) - value(y));
        let total = 0;
        for (let i = 0; i < n; i++) total += this.forgetting ** i;
        const at = (q: number) => {
          let cum = 0;
          for (const age of order) {
            cum += this.forgetting ** age;
            if (cum >= q * total - 1e-12) return value(age);
          }
          return n ? value(order[n - 1]) : 0;
        };
        this.q95 = n ? at(0.95) : 0;
        this.q99 = n ? at(0.99) : 0;
      }
      this.dirty = false;
    }
    return { q95: this.q95, q99: this.q99 };
  }
}
