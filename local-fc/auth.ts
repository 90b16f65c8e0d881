/**
 * The AccessKey pair the local FC accepts. Taken from FC_LOCAL_ACCESS_KEY_ID /
 * FC_LOCAL_ACCESS_KEY_SECRET; the documented defaults are for loopback development only.
 */

/** Default AccessKey id of the local FC (local development only). */
export const LOCAL_FC_DEFAULT_ACCESS_KEY_ID = 'LTAIlocaldevkey';
/** Default AccessKey secret of the local FC (local development only; not a real credential). */
export const LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET = 'local-dev-secret';

/** An AccessKey pair whose secret stays out of logs, JSON and `util.inspect`. */
export interface LocalAccessKey {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
}

/** The pair from env, else the documented defaults. */
export function localFcAccessKey(env: Readonly<Record<string, string | undefined>> = process.env): LocalAccessKey {
  const accessKeyId = env.FC_LOCAL_ACCESS_KEY_ID || LOCAL_FC_DEFAULT_ACCESS_KEY_ID;
  const accessKeySecret = env.FC_LOCAL_ACCESS_KEY_SECRET || LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET;
  const key = { accessKeyId } as { accessKeyId: string; accessKeySecret: string };
  // Non-enumerable: JSON.stringify, spreads and console.log do not show it.
  Object.defineProperty(key, 'accessKeySecret', { value: accessKeySecret, enumerable: false });
  return key;
}
