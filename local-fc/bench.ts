/**
 * `npm run bench:local-fc`: what the local FC itself costs and how faithful its emulation is,
 * measured in one run against baselines from the same run:
 *  1. overhead: warm invocations through the real fc2 client (sign, HTTP, verify, worker
 *     round trip) vs calling the same stand-in handler in-process;
 *  2. cold start: first call on a new instance (worker + bundled code + initializer) vs warm;
 *  3. uplink: measured extra time for a body at N Mbit/s vs bytes·8/N.
 * Emulation is off (profile false) so the figures are the machinery's, not the profile's.
 *
 *   npm run bench:local-fc -- --n 200 --mbps 2 --kb 250
 */
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { startLocalFc, ECHO_HANDLER_MODULE, LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET } from './index.ts';
import { median } from '../shared/stats.ts';
import { loadTiers } from '../shared/tiers.ts';
import { encodeBatch } from '../shared/wire/index.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '200' }, mbps: { type: 'string', default: '2' }, kb: { type: 'string', default: '250' } } });
const n = Number(values.n);
const mbps = Number(values.mbps);
const kb = Number(values.kb);
for (const [k, v] of Object.entries({ n, mbps, kb })) {
  if (!(v > 0)) throw new TypeError(`Expected \`--${k}\` to be a number > 0, got \`${v}\``);
}

const Client = createRequire(import.meta.url)('@alicloud/fc2') as new (a: string, c: Record<string, unknown>) => {
  version: string;
  post(p: string, b: Buffer, h?: object, q?: null, o?: object): Promise<unknown>;
};
const tier = loadTiers()[0];
const fc = await startLocalFc({ handlerModule: ECHO_HANDLER_MODULE, profile: false, tiers: [tier], maxInstances: 1 });
const client = new Client('bench', { accessKeyID: fc.accessKeyId, accessKeySecret: LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET, region: tier.region, endpoint: fc.url });
client.version = '2023-03-30';
const path = `/functions/${tier.functionName}/invocations`;
const small = encodeBatch([{ id: 'a', type: 'image/png', bytes: Buffer.from('hello') }]);
const time = async (f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};

const coldMs = await time(() => client.post(path, small, {}, null, { rawBuf: true }));
const viaFc: number[] = [];
for (let i = 0; i < n; i++) viaFc.push(await time(() => client.post(path, small, {}, null, { rawBuf: true })));
const { handler } = (await import(ECHO_HANDLER_MODULE)) as { handler: (b: Buffer) => Promise<string> };
await handler(small);
const direct: number[] = [];
for (let i = 0; i < n; i++) direct.push(await time(() => handler(small)));

const big = encodeBatch([{ id: 'b', type: 'image/png', bytes: Buffer.alloc(kb * 1024, 120) }]);
const free: number[] = [];
for (let i = 0; i < 3; i++) free.push(await time(() => client.post(path, big, {}, null, { rawBuf: true })));
const freeMs = median(free);
fc.setLink({ mbps });
const shapedMs = await time(() => client.post(path, big, {}, null, { rawBuf: true }));
fc.setLink({ mbps: null });
await fc.close();

const expectedMs = (big.length * 8) / (mbps * 1e6) * 1000;
const warm = median(viaFc);
const base = median(direct);
console.log(`local FC bench (${n} warm calls, tier ${tier.key}, emulation off)`);
console.log(`  warm invocation via fc2 client  median ${warm.toFixed(2)} ms   direct handler call median ${base.toFixed(3)} ms   overhead ${(warm - base).toFixed(2)} ms`);
console.log(`  cold start (new worker + bundled code + initializer)  ${coldMs.toFixed(0)} ms = ${(coldMs / warm).toFixed(0)}x a warm call`);
console.log(`  uplink ${mbps} Mbit/s, ${big.length} B: extra ${(shapedMs - freeMs).toFixed(0)} ms vs bytes·8/rate ${expectedMs.toFixed(0)} ms (ratio ${((shapedMs - freeMs) / expectedMs).toFixed(3)})`);
