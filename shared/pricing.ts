/**
 * Function Compute pricing: one versioned table, the only place prices live.
 *
 * FC 3.0 bills in compute units (CU). Source: Alibaba Cloud Function Compute "Billing overview /
 * pay-as-you-go" (FC 3.0 CU conversion factors), as read on 2026-11-24:
 * active vCPU 1 CU per vCPU-second, memory 0.15 CU per GB-second, invocations 75 CU per
 * 10,000 (0.0075 CU each), idle vCPU 0 CU (CPU freezes when idle), tier-1 CU unit price
 * USD 0.00002. Disk above 512 MB and outbound traffic are billed separately and not modelled.
 */
import type { Tier } from './tiers.ts';

export interface PricingTable {
  readonly version: string;
  readonly source: string;
  /** CU per active vCPU-second. */
  readonly cuPerVcpuSecond: number;
  /** CU per GB-second of memory. */
  readonly cuPerGbSecond: number;
  /** CU per invocation. */
  readonly cuPerInvocation: number;
  /** USD per CU (tier 1 of the tiered price). */
  readonly usdPerCu: number;
  /** Billing granularity of execution time. */
  readonly billingGranularityMs: number;
}

export const FC3_PRICING: PricingTable = {
  version: '2026-11-24',
  source:
    'Alibaba Cloud Function Compute 3.0 pay-as-you-go billing (CU conversion: vCPU-s 1, GB-s 0.15, 75 CU / 10,000 invocations; CU tier-1 price USD 0.00002)',
  cuPerVcpuSecond: 1,
  cuPerGbSecond: 0.15,
  cuPerInvocation: 0.0075,
  usdPerCu: 0.00002,
  billingGranularityMs: 1,
};

export interface Cost {
  readonly cu: number;
  readonly usd: number;
}

/** Round execution time up to the billing granularity. */
export function billedMsOf(durationMs: number, table: PricingTable = FC3_PRICING): number {
  if (!(durationMs >= 0)) return 0;
  const g = table.billingGranularityMs;
  return Math.ceil(durationMs / g - 1e-9) * g;
}

/**
 * Cost of `invocations` calls to `tier` that ran `billedMs` in total.
 * @example costOf({ vcpu: 1, memoryMb: 2048 }, 1000, 1) // 1 + 0.3 + 0.0075 = 1.3075 CU
 */
export function costOf(
  tier: Pick<Tier, 'vcpu' | 'memoryMb'>,
  billedMs: number,
  invocations = 1,
  table: PricingTable = FC3_PRICING,
): Cost {
  const s = billedMsOf(billedMs, table) / 1000;
  const cu = s * (tier.vcpu * table.cuPerVcpuSecond + (tier.memoryMb / 1024) * table.cuPerGbSecond) + invocations * table.cuPerInvocation;
  return { cu, usd: cu * table.usdPerCu };
}
