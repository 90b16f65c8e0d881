/**
 * Carrying out a Decision: the one path by which the live runtime and the simulator act on what
 * the core decided — rejections first, then dispatches, then probes, then the wake-up — so a
 * probe or a wake-up means the same thing in both. Pure: the driver does the I/O or the virtual
 * events.
 */
import type { Decision, DispatchOrder, ProbeOrder, RejectOrder } from './types.ts';

export interface DecisionDriver {
  /** Answer a request the core turned away. */
  reject(order: RejectOrder): void;
  /** Run a batch on its target; the call's time limit is {@link callTimeoutMs}. */
  dispatch(order: DispatchOrder): void;
  /** Run a one-item probe call, giving up after `order.timeoutMs`. */
  probe(order: ProbeOrder): void;
  /** Ask the core again at `atMs` (≥ now) unless something else happens first. */
  wakeAt(atMs: number): void;
}

export function carryOut(d: Decision, nowMs: number, driver: DecisionDriver): void {
  for (const r of d.reject) driver.reject(r);
  for (const o of d.dispatch) driver.dispatch(o);
  for (const p of d.probe ?? []) driver.probe(p);
  if (d.wakeAtMs !== null && Number.isFinite(d.wakeAtMs)) driver.wakeAt(Math.max(d.wakeAtMs, nowMs));
}

/** A batch call's time limit: until its earliest deadline (at least 1 ms). */
export function callTimeoutMs(earliestDeadlineMs: number, nowMs: number): number {
  return Math.max(1, earliestDeadlineMs - nowMs);
}
