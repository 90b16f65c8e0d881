/**
 * Billing ledger of the local FC: one entry per invocation that ran on an instance, priced with
 * the project's one pricing table (shared/pricing.ts). Throttled and refused requests are not
 * billed, as on FC. A new instance's initializer is billed as an entry of its own (`kind:
 * 'initializer'`: its duration at the tier's rate, no invocation fee), as FC bills it apart from
 * the invocation that caused the cold start.
 */
import { costOf, billedMsOf } from '../shared/pricing.ts';
import type { Tier } from '../shared/tiers.ts';

export interface LedgerEntry {
  readonly requestId: string;
  readonly tierKey: string;
  readonly functionName: string;
  /** `initializer` = a new instance's initializer, billed apart from the invocation. */
  readonly kind: 'invocation' | 'initializer';
  /** ISO time the invocation finished. */
  readonly at: string;
  /** Emulated function duration (x-fc-invocation-duration; for an initializer, its emulated duration). */
  readonly durationMs: number;
  readonly billedMs: number;
  readonly coldStart: boolean;
  /** `HandledInvocationError` / `UnhandledInvocationError` when the function failed. */
  readonly errorType?: string;
  readonly cu: number;
  readonly costUsd: number;
}

export interface LedgerTotals {
  readonly invocations: number;
  /** Initializer runs (cold starts of a function with an initializer); their time is in billedMs and cu. */
  readonly initializers: number;
  readonly billedMs: number;
  readonly cu: number;
  readonly costUsd: number;
}

/** What `GET /local/ledger` returns. */
export interface Ledger {
  readonly entries: readonly LedgerEntry[];
  /** Per tier key. */
  readonly totals: Readonly<Record<string, LedgerTotals>>;
  readonly total: LedgerTotals;
}

/** Accumulates invocations; `snapshot()` is a copy safe to serialise. */
export class LedgerBook {
  private readonly entries: LedgerEntry[] = [];

  record(tier: Tier, e: { requestId: string; durationMs: number; coldStart: boolean; errorType?: string; atMs: number; kind?: LedgerEntry['kind'] }): LedgerEntry {
    const kind = e.kind ?? 'invocation';
    const billedMs = billedMsOf(e.durationMs);
    const c = costOf(tier, billedMs, kind === 'invocation' ? 1 : 0);
    const entry: LedgerEntry = {
      requestId: e.requestId,
      tierKey: tier.key,
      functionName: tier.functionName,
      kind,
      at: new Date(e.atMs).toISOString(),
      durationMs: e.durationMs,
      billedMs,
      coldStart: e.coldStart,
      ...(e.errorType ? { errorType: e.errorType } : {}),
      cu: c.cu,
      costUsd: c.usd,
    };
    this.entries.push(entry);
    return entry;
  }

  snapshot(): Ledger {
    const zero = () => ({ invocations: 0, initializers: 0, billedMs: 0, cu: 0, costUsd: 0 });
    const totals: Record<string, ReturnType<typeof zero>> = {};
    const total = zero();
    for (const e of this.entries) {
      const t = (totals[e.tierKey] ??= zero());
      for (const acc of [t, total]) {
        if (e.kind === 'initializer') acc.initializers++;
        else acc.invocations++;
        acc.billedMs += e.billedMs;
        acc.cu += e.cu;
        acc.costUsd += e.costUsd;
      }
    }
    return { entries: [...this.entries], totals, total };
  }

  clear(): void {
    this.entries.length = 0;
  }
}
