/**
 * The measuring instrument of the regime matrix: issue 14's targets (a)–(d) checked on one run's
 * policy summaries, with the house rule for fair comparisons — a cost verdict only between runs of
 * equal punctuality (on-time rates within {@link EQUAL_PUNCTUALITY}); otherwise only whether a
 * policy is on the cost/attainment frontier. Pure: summaries in, verdicts out.
 */
import type { PolicySummary } from '../simulator/metrics.ts';

/** Two runs are equally punctual when their on-time rates differ by at most this (0.2 points). */
export const EQUAL_PUNCTUALITY = 0.002;
/** Target (a): on-time rate to reach. */
export const TARGET_ATTAINMENT = 0.995;
/** Target (b): ours ≤ this × a baseline's cost (static-best: ≤ 1×). */
export const COST_FACTOR = 0.9;
/** Target (c): ours ≤ this × the oracle bound where ours reaches {@link TARGET_ATTAINMENT}. */
export const ORACLE_FACTOR = 1.3;
/** Target (d): at least this share fewer re-plans than re-planning every second, at ≤ {@link REPLAN_COST_FACTOR}× its cost. */
export const REPLAN_CUT = 0.9;
export const REPLAN_COST_FACTOR = 1.01;

/** The baselines ours is measured against (ours-periodic is ours re-planning every second; the oracle is a bound). */
export const BASELINES = ['seed', 'static-best', 'triton', 'bentoml', 'no-batching', 'edge-only', 'cloud-only'] as const;

/** ok: true = met, false = not met, null = not applicable (said why in `detail`). */
export interface Verdict {
  readonly ok: boolean | null;
  readonly detail: string;
}

export interface RunVerdicts {
  readonly a: Verdict;
  readonly b: Verdict;
  readonly c: Verdict;
  readonly d: Verdict;
  /** Runnable policies no other one dominates (see {@link dominates}). */
  readonly frontier: string[];
}

const pts = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)} pt`;
const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;

/** Equal punctuality in the house rule's sense. */
export function equallyPunctual(x: PolicySummary, y: PolicySummary): boolean {
  return Math.abs(x.sloAttainment - y.sloAttainment) <= EQUAL_PUNCTUALITY + 1e-12;
}

/**
 * `x` dominates `y` on cost and attainment: at equal punctuality strictly cheaper; otherwise more
 * punctual and no dearer. (A cheaper policy that is less punctual dominates nothing.)
 */
export function dominates(x: PolicySummary, y: PolicySummary): boolean {
  if (equallyPunctual(x, y)) return x.costUsd < y.costUsd;
  return x.sloAttainment > y.sloAttainment && x.costUsd <= y.costUsd;
}

/** The policies (oracle excluded) that no other policy dominates. */
export function frontier(p: Record<string, PolicySummary>): string[] {
  const names = Object.keys(p).filter((k) => k !== 'oracle');
  return names.filter((y) => !names.some((x) => x !== y && dominates(p[x], p[y])));
}

/** "ours ≤ factor × other", with a $0 ours always within (nothing costs less). */
function costWithin(ours: number, other: number, factor: number): { ok: boolean; ratio: string } {
  const ratio = other === 0 ? (ours === 0 ? '1.00×' : '∞×') : `${(ours / other).toFixed(2)}×`;
  return { ok: ours === 0 || ours <= factor * other + 1e-15, ratio };
}

/** Target (a): ≥ 99.5 % on time, or within 0.2 points of the best baseline where no baseline reaches 99.5 %. */
export function attainmentVerdict(p: Record<string, PolicySummary>): Verdict {
  const ours = p.ours;
  let best: [string, number] | null = null;
  for (const k of BASELINES) if (p[k] && (!best || p[k].sloAttainment > best[1])) best = [k, p[k].sloAttainment];
  if (ours.sloAttainment >= TARGET_ATTAINMENT) return { ok: true, detail: `${pct(ours.sloAttainment)} ≥ 99.5 %` };
  if (best && best[1] < TARGET_ATTAINMENT) {
    const ok = ours.sloAttainment >= best[1] - EQUAL_PUNCTUALITY - 1e-12;
    return { ok, detail: `${pct(ours.sloAttainment)}; 99.5 % out of reach, best baseline ${best[0]} ${pct(best[1])} (${pts(ours.sloAttainment - best[1])})` };
  }
  return { ok: false, detail: `${pct(ours.sloAttainment)} < 99.5 %${best ? ` (${best[0]} reaches ${pct(best[1])})` : ''}` };
}

/**
 * Target (b), fairly: against each baseline of equal punctuality, ours ≤ static-best's cost and
 * ≤ 0.9× every other's; a baseline more punctual than ours by more than 0.2 points fails it only
 * when it is also no dearer (ours is then dominated); a less punctual one gives no cost verdict.
 * n/a when no baseline is equally punctual and none dominates ours.
 */
export function costVerdict(p: Record<string, PolicySummary>): Verdict {
  const ours = p.ours;
  const parts: string[] = [];
  let compared = 0;
  let ok = true;
  for (const k of BASELINES) {
    const b = p[k];
    if (!b) continue;
    if (equallyPunctual(ours, b)) {
      compared++;
      const factor = k === 'static-best' ? 1 : COST_FACTOR;
      const c = costWithin(ours.costUsd, b.costUsd, factor);
      ok &&= c.ok;
      parts.push(`${k} ${c.ratio}${c.ok ? '' : ` > ${factor}× ✗`}`);
    } else if (b.sloAttainment > ours.sloAttainment && b.costUsd <= ours.costUsd) {
      ok = false;
      parts.push(`${k} dominates (${pts(b.sloAttainment - ours.sloAttainment)}, ours at ${costWithin(ours.costUsd, b.costUsd, 1).ratio} its cost) ✗`);
    }
  }
  if (compared === 0 && ok) return { ok: null, detail: `no baseline within 0.2 pt${parts.length ? `; ${parts.join(', ')}` : ''}` };
  return { ok, detail: parts.join(', ') };
}

/** Target (c): the oracle ≤ every policy serving 100 % on time (validity); ours ≤ 1.3× it where ours reaches 99.5 %. */
export function oracleVerdict(p: Record<string, PolicySummary>): Verdict {
  const o = p.oracle;
  if (!o) return { ok: null, detail: 'oracle not run' };
  const violators = Object.entries(p).filter(([k, s]) => k !== 'oracle' && s.sloAttainment === 1 && s.costUsd < o.costUsd * (1 - 1e-9) - 1e-12);
  const parts: string[] = [violators.length ? `INVALID: ${violators.map(([k]) => k).join(', ')} below the bound ✗` : 'valid'];
  let ok = violators.length === 0;
  const ours = p.ours;
  if (ours.sloAttainment >= TARGET_ATTAINMENT) {
    const c = costWithin(ours.costUsd, o.costUsd, ORACLE_FACTOR);
    ok &&= c.ok;
    parts.push(`ours/oracle ${c.ratio}${c.ok ? '' : ' > 1.3× ✗'}`);
  } else parts.push('ours < 99.5 %: tightness n/a');
  return { ok, detail: parts.join(', ') };
}

/** Target (d): ≥ 90 % fewer re-plans than ours-periodic at ≤ 1 % more cost (the cost part at equal punctuality only). */
export function replanVerdict(p: Record<string, PolicySummary>): Verdict {
  const ours = p.ours;
  const per = p['ours-periodic'];
  if (!per) return { ok: null, detail: 'ours-periodic not run' };
  const r = ours.replans ?? 0;
  const rp = per.replans ?? 0;
  const cut = rp > 0 ? 1 - r / rp : r === 0 ? 1 : 0;
  const cutOk = cut >= REPLAN_CUT;
  let costPart: string;
  let costOk = true;
  if (equallyPunctual(ours, per)) {
    const c = costWithin(ours.costUsd, per.costUsd, REPLAN_COST_FACTOR);
    costOk = c.ok;
    costPart = `cost ${c.ratio}${c.ok ? '' : ' > 1.01× ✗'}`;
  } else if (per.sloAttainment > ours.sloAttainment && per.costUsd <= ours.costUsd) {
    costOk = false;
    costPart = `periodic dominates (${pts(per.sloAttainment - ours.sloAttainment)}) ✗`;
  } else costPart = `cost n/a (${pts(ours.sloAttainment - per.sloAttainment)} vs periodic)`;
  return { ok: cutOk && costOk, detail: `${r}/${rp} re-plans (${(cut * 100).toFixed(1)} % fewer${cutOk ? '' : ' < 90 % ✗'}), ${costPart}` };
}

/** All four targets and the frontier for one run. */
export function runVerdicts(p: Record<string, PolicySummary>): RunVerdicts {
  if (!p.ours) throw new RangeError(`verdicts need the policy ours; the run has ${Object.keys(p).join(', ')}`);
  return { a: attainmentVerdict(p), b: costVerdict(p), c: oracleVerdict(p), d: replanVerdict(p), frontier: frontier(p) };
}

/** Cost per on-time request, USD per million on-time requests (null when none was on time). */
export function costPerMillionOnTime(s: PolicySummary): number | null {
  const onTime = Math.round(s.sloAttainment * s.requests);
  return onTime > 0 ? (s.costUsd / onTime) * 1e6 : null;
}
