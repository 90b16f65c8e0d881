/** Public surface of the local Function Compute. */
export { startLocalFc, DEFAULT_HANDLER_MODULE, ECHO_HANDLER_MODULE, DEFAULT_FC2_SERVICE, MAX_BODY_BYTES } from './server.ts';
export type { LocalFc, LocalFcOptions, LocalFcLogger } from './server.ts';
export { LOCAL_FC_DEFAULT_ACCESS_KEY_ID, LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET, localFcAccessKey } from './auth.ts';
export type { LocalAccessKey } from './auth.ts';
export type { Ledger, LedgerEntry, LedgerTotals } from './ledger.ts';
export type { LinkSettings } from './link.ts';
export type { Faults, FaultsInput, TierFaults, UniformSource } from './faults.ts';
export { composeStringToSign, signFc, verifyFcRequest } from './signature.ts';
