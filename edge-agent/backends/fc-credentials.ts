/**
 * Alibaba Cloud credentials for the FC backend, from the environment
 * (ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET / ALIBABA_CLOUD_SECURITY_TOKEN,
 * FC_ACCOUNT_ID, FC_REGION) or from a Serverless Devs access alias in ~/.s/access.yaml (what
 * `npx s config add` writes). The secret never leaves the object by accident: JSON, spreads and
 * `util.inspect` show `[redacted]`.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { parse as parseYaml } from 'yaml';

type Env = Readonly<Record<string, string | undefined>>;

/** Configuration error: named alias missing, half a key pair, unreadable access.yaml. */
export class FcCredentialsError extends Error {
  override name = 'FcCredentialsError';
}

/** An AccessKey pair (optionally STS) plus the account and region FC needs. */
export class FcCredentials {
  readonly accessKeyId: string;
  declare readonly accessKeySecret: string;
  declare readonly securityToken?: string;
  /** Alibaba Cloud account id (the FC endpoint's first label); may be absent for a local FC. */
  readonly accountId?: string;
  readonly region?: string;
  /** Where they came from, e.g. `env` or `access.yaml:default` (safe to log). */
  readonly source: string;

  constructor(v: { accessKeyId: string; accessKeySecret: string; securityToken?: string; accountId?: string; region?: string; source: string }) {
    if (!v.accessKeyId || !v.accessKeySecret) throw new FcCredentialsError(`credentials from ${v.source} need both an AccessKey id and secret`);
    this.accessKeyId = v.accessKeyId;
    // Non-enumerable: not in Object.keys, JSON.stringify or object spreads.
    Object.defineProperty(this, 'accessKeySecret', { value: v.accessKeySecret, enumerable: false });
    if (v.securityToken) Object.defineProperty(this, 'securityToken', { value: v.securityToken, enumerable: false });
    if (v.accountId) this.accountId = v.accountId;
    if (v.region) this.region = v.region;
    this.source = v.source;
  }

  /** Same fields with the secret and token replaced by `[redacted]`. */
  toJSON(): Record<string, unknown> {
    return {
      accessKeyId: this.accessKeyId,
      accessKeySecret: '[redacted]',
      ...(this.securityToken ? { securityToken: '[redacted]' } : {}),
      accountId: this.accountId,
      region: this.region,
      source: this.source,
    };
  }

  [inspect.custom](): string {
    return `FcCredentials ${JSON.stringify(this.toJSON())}`;
  }

  toString(): string {
    return this[inspect.custom]();
  }
}

export interface ResolveFcCredentialsOptions {
  /** Serverless Devs access alias to use; wins over env keys. @default env SEB_ACCESS, else `default` when env has no keys */
  readonly access?: string;
  /** Path of access.yaml. @default `$serverless_devs_config_home/.s/access.yaml` or `~/.s/access.yaml` */
  readonly accessYamlPath?: string;
}

/** Serverless Devs stores each value AES-encrypted the way crypto-js does (OpenSSL `Salted__` format). */
const SDEVS_PASSPHRASE = 'SecretKey123';

/** OpenSSL EVP_BytesToKey with MD5, one iteration (crypto-js' passphrase key derivation). */
function evpBytesToKey(pass: Buffer, salt: Buffer, keyLen: number, ivLen: number): { key: Buffer; iv: Buffer } {
  const out: Buffer[] = [];
  let prev = Buffer.alloc(0);
  let len = 0;
  while (len < keyLen + ivLen) {
    prev = createHash('md5').update(Buffer.concat([prev, pass, salt])).digest();
    out.push(prev);
    len += prev.length;
  }
  const all = Buffer.concat(out);
  return { key: all.subarray(0, keyLen), iv: all.subarray(keyLen, keyLen + ivLen) };
}

/** Decrypt a Serverless Devs access value; plain values pass through unchanged. */
export function decodeAccessValue(value: unknown): string {
  const s = value === undefined || value === null ? '' : String(value);
  const raw = Buffer.from(s, 'base64');
  if (raw.length < 32 || raw.subarray(0, 8).toString('latin1') !== 'Salted__') return s;
  try {
    const { key, iv } = evpBytesToKey(Buffer.from(SDEVS_PASSPHRASE, 'utf8'), raw.subarray(8, 16), 32, 16);
    const d = createDecipheriv('aes-256-cbc', key, iv);
    const plain = Buffer.concat([d.update(raw.subarray(16)), d.final()]).toString('utf8');
    return plain || s;
  } catch {
    return s; // not ours: keep the value as written
  }
}

function defaultAccessYaml(env: Env): string {
  const home = env.serverless_devs_config_home || homedir();
  const yaml = join(home, '.s', 'access.yaml');
  const yml = join(home, '.s', 'access.yml');
  return existsSync(yaml) || !existsSync(yml) ? yaml : yml;
}

/**
 * Find FC credentials.
 * @returns undefined when none are configured (the agent then starts the local FC)
 * @throws FcCredentialsError when a named alias is missing or a key pair is incomplete
 * @example
 * const creds = resolveFcCredentials(process.env);               // env, else access.yaml `default`
 * const creds2 = resolveFcCredentials(process.env, { access: 'prod' });
 */
export function resolveFcCredentials(env: Env = process.env, opts: ResolveFcCredentialsOptions = {}): FcCredentials | undefined {
  const accountId = env.FC_ACCOUNT_ID || undefined;
  const region = env.FC_REGION || undefined;
  const alias = opts.access ?? env.SEB_ACCESS;
  const envId = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  const envSecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (!alias && (envId || envSecret)) {
    if (!envId || !envSecret) throw new FcCredentialsError('set both ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (one is missing)');
    return new FcCredentials({ accessKeyId: envId, accessKeySecret: envSecret, securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN || undefined, accountId, region, source: 'env' });
  }
  const path = opts.accessYamlPath ?? defaultAccessYaml(env);
  const name = alias ?? 'default';
  if (!existsSync(path)) {
    if (alias) throw new FcCredentialsError(`access alias ${alias} requested, but ${path} does not exist (run \`npx s config add\`)`);
    return undefined;
  }
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new FcCredentialsError(`cannot read Serverless Devs access file ${path}`, { cause });
  }
  const entry = doc && typeof doc === 'object' ? (doc as Record<string, unknown>)[name] : undefined;
  if (!entry || typeof entry !== 'object') {
    if (alias) {
      const known = doc && typeof doc === 'object' ? Object.keys(doc).join(', ') : '';
      throw new FcCredentialsError(`access alias ${alias} is not in ${path} (it has: ${known || 'none'})`);
    }
    return undefined;
  }
  const e = entry as Record<string, unknown>;
  return new FcCredentials({
    accessKeyId: decodeAccessValue(e.AccessKeyID),
    accessKeySecret: decodeAccessValue(e.AccessKeySecret),
    securityToken: e.SecurityToken ? decodeAccessValue(e.SecurityToken) : undefined,
    accountId: accountId ?? (e.AccountID ? decodeAccessValue(e.AccountID) : undefined),
    region,
    source: `access.yaml:${name}`,
  });
}
