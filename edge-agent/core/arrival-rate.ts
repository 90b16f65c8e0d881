/**
 * Arrival rate: arrivals are counted per tick (default 1 s) and the counts run through BOCPD
 * with negative-binomial segments whose dispersion (Var / mean per tick) is learned online from
 * the stream itself (`dispersed-counts.ts`): a Poisson stream is scored as Poisson, a bursty
 * one as the noise it measurably is, so its bursts are not read as rate changes. The rate is
 * the MAP segment's posterior (req/s ± sd), so after a change the old regime's ticks stop counting.
 */
import { ChangeDetector, estimatorDetectorOptions, type ChangeDetectorOptions } from './change-detector.ts';
import { DispersionEstimator, NegativeBinomialModel } from './dispersed-counts.ts';
import { checkNumber } from './validate.ts';

/** Options of {@link ArrivalRateEstimator}. */
export interface ArrivalRateOptions extends ChangeDetectorOptions {
  /** Tick length. @default 1000 */
  readonly tickMs?: number;
  /**
   * Prior mean rate of the first segment, req/s (weak: one pseudo-tick). Later segments start
   * from the stream's own recent rate, worth one arrival. @default 20
   */
  readonly priorRateRps?: number;
}

/** A detected change in the arrival rate. */
export interface RateChange {
  /** Start of the tick where the new regime began. */
  readonly changeAtMs: number;
  /** When it was detected (end of the tick that confirmed it). */
  readonly detectedAtMs: number;
  readonly pChange: number;
}

/** JSON view of the rate estimate. */
export interface RateSnapshot {
  readonly rateRps: number;
  readonly sdRps: number;
  readonly tickMs: number;
  readonly runLengthTicks: number;
  readonly pChange: number;
  readonly ticks: number;
}

/**
 * Online arrival-rate estimator.
 * @example
 * const r = new ArrivalRateEstimator({ tickMs: 1000 }, 0);
 * r.record(120); r.record(480);
 * const changes = r.advance(5000); r.snapshot().rateRps;
 */
export class ArrivalRateEstimator {
  readonly tickMs: number;
  private readonly model: NegativeBinomialModel;
  private readonly dispersion = new DispersionEstimator();
  private readonly detector: ChangeDetector;
  private tickStartMs: number;
  private tickCount = 0;
  private lastP = 0;

  constructor(opts: ArrivalRateOptions = {}, startMs = 0) {
    this.tickMs = checkNumber('tickMs', opts.tickMs ?? 1000, 0, Infinity, true);
    const prior = checkNumber('priorRateRps', opts.priorRateRps ?? 20, 0, Infinity, true);
    this.model = new NegativeBinomialModel({ meanCount: Math.max(prior * (this.tickMs / 1000), 1e-3), weightTicks: 1 });
    // A 60-tick window: a ±20 % step at tens of req/s needs 10–15 ticks of evidence, past the
    // shared 10-tick window (bench:cpd detector table); a second alarm needs its segment to
    // start 30 ticks after the previous one.
    this.detector = new ChangeDetector(this.model, estimatorDetectorOptions({ windowSteps: 60, minGapSteps: 30, ...opts }, 1 / 3600));
    this.tickStartMs = startMs;
  }

  /** Ticks closed so far. */
  get ticks(): number {
    return this.detector.bocpd.t;
  }

  /** Count `count` arrivals at `nowMs` (closes earlier ticks first). */
  record(nowMs: number, count = 1, changes?: RateChange[]): void {
    const c = this.advance(nowMs);
    if (changes) changes.push(...c);
    this.tickCount += count;
  }

  /** Close every tick that ended by `nowMs`; returns the changes detected. */
  advance(nowMs: number): RateChange[] {
    const out: RateChange[] = [];
    // Bound work after a very long gap: beyond a day of empty ticks nothing new is learnt.
    let guard = Math.ceil((86_400_000 / this.tickMs));
    while (nowMs >= this.tickStartMs + this.tickMs && guard-- > 0) {
      // Score the tick with what the ticks before it taught: the dispersion, and (empirical
      // Bayes) a new segment's prior — the stream's recent mean, worth one arrival, so a new
      // rate anywhere from ×0.2 to ×5 is cheap to explain while the old one is known exactly.
      this.model.setDispersion(this.dispersion.dispersion);
      const m = this.dispersion.meanCount;
      if (m > 0) this.model.setSegmentPrior({ meanCount: m, weightTicks: 1 / m });
      const step = this.detector.update(this.tickCount);
      this.dispersion.observe(this.tickCount);
      this.tickCount = 0;
      this.tickStartMs += this.tickMs;
      if (step) {
        this.lastP = step.pChange;
        if (step.changeAt != null) {
          const ticksBack = this.detector.bocpd.t - step.changeAt;
          out.push({ changeAtMs: this.tickStartMs - ticksBack * this.tickMs, detectedAtMs: this.tickStartMs, pChange: step.pChange });
        }
      }
    }
    if (guard <= 0 && nowMs >= this.tickStartMs + this.tickMs) this.tickStartMs = nowMs - (nowMs - this.tickStartMs) % this.tickMs;
    return out;
  }

  /**
   * The open tick's arrivals over its elapsed time, req/s, once at least `minMs` of it passed
   * (0 before): what a burst looks like before a tick closes and the detector weighs it.
   */
  openTickRps(nowMs: number, minMs = 250): number {
    const elapsedMs = nowMs - this.tickStartMs;
    return elapsedMs >= minMs ? (this.tickCount * 1000) / elapsedMs : 0;
  }

  /** Rate of the current (MAP) segment in req/s; the prior before the first tick. */
  snapshot(): RateSnapshot {
    const b = this.detector.bocpd;
    const i = b.mapSegmentIndex();
    const perS = 1000 / this.tickMs;
    const r = i < 0 ? { mean: this.model.priorMean(), sd: Math.sqrt(this.model.priorVariance()) } : this.model.rate(i);
    return { rateRps: i < 0 ? 0 : r.mean * perS, sdRps: r.sd * perS, tickMs: this.tickMs, runLengthTicks: b.mapRunLength(), pChange: this.lastP, ticks: b.t };
  }
}
