/**
 * Deadline classes: the distinct deadline budgets (deadline − arrival) seen, bucketed on a
 * geometric grid so 480 ms and 500 ms share a class. A class budget is its bucket's lower edge,
 * which keeps plans conservative. Classes unseen for `ttlMs` are forgotten.
 */

/** Grid ratio between neighbouring buckets (2^(1/8) ≈ 9 %). */
const RATIO = Math.pow(2, 1 / 8);
const LOG_RATIO = Math.log(RATIO);

/** The class budget (bucket lower edge) of a deadline budget. */
export function classBudgetMs(budgetMs: number): number {
  if (!(budgetMs > 1)) return Math.max(0, budgetMs);
  // Small epsilon so exact grid points map to themselves despite rounding.
  const k = Math.floor(Math.log(budgetMs) / LOG_RATIO + 1e-9);
  return Math.pow(RATIO, k);
}

/** The set of live deadline classes. */
export class DeadlineClasses {
  private readonly seen = new Map<number, { count: number; lastMs: number }>();

  constructor(
    readonly ttlMs = 600_000,
    readonly maxClasses = 16,
  ) {}

  /** Record one request's budget. @returns true when it opened a new class. */
  observe(budgetMs: number, nowMs: number): boolean {
    const c = classBudgetMs(budgetMs);
    const e = this.seen.get(c);
    if (e) {
      e.count++;
      e.lastMs = nowMs;
      return false;
    }
    if (this.seen.size >= this.maxClasses) {
      // Evict the least recently seen class.
      let oldest: number | null = null;
      for (const [k, v] of this.seen) if (oldest === null || v.lastMs < this.seen.get(oldest)!.lastMs) oldest = k;
      if (oldest !== null) this.seen.delete(oldest);
    }
    this.seen.set(c, { count: 1, lastMs: nowMs });
    return true;
  }

  /** Forget classes unseen for ttlMs. */
  expire(nowMs: number): void {
    for (const [k, v] of this.seen) if (nowMs - v.lastMs > this.ttlMs) this.seen.delete(k);
  }

  has(budgetMs: number): boolean {
    return this.seen.has(classBudgetMs(budgetMs));
  }

  /** Class budgets, ascending. */
  budgets(): number[] {
    return [...this.seen.keys()].sort((a, b) => a - b);
  }

  snapshot(): { budgetMs: number; count: number }[] {
    return this.budgets().map((b) => ({ budgetMs: b, count: this.seen.get(b)!.count }));
  }
}
