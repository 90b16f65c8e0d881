/** Trace parsers: request arrivals and uplink bandwidth, read from the reference data by path. */
export * from './arrivals.ts';
export * from './bandwidth.ts';
