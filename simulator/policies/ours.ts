/** Placeholder until edge-agent/core lands. */
import type { PolicyContext, SimPolicy } from '../types.ts';
export function ours(_ctx: PolicyContext): SimPolicy {
  throw new Error('edge-agent/core is not available yet');
}
export function oursPeriodic(_ctx: PolicyContext): SimPolicy {
  throw new Error('edge-agent/core is not available yet');
}
