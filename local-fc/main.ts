/**
 * `npm run fc:local`: run the local Function Compute on 127.0.0.1:9000 until Ctrl-C.
 *
 *   npm run fc:local -- --port 9000 --max-instances 2 --keep-alive-ms 60000 \
 *     --uplink ../shared/data/bandwidth/hsdpa-norway_bus_1.cooked --rtt-ms 40
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadBandwidthTrace, BANDWIDTH_FORMATS, type BandwidthFormat } from '../shared/traces/bandwidth.ts';
import { startLocalFc } from './server.ts';
import { faultsSchema } from './faults.ts';
import { readFileSync } from 'node:fs';

const HELP = `Usage: npm run fc:local -- [options]

A local Alibaba Cloud Function Compute for the tiers of s.yaml (tier speed is emulated).

  --port N               TCP port (default 9000; 0 = ephemeral)
  --host ADDR            interface (default 127.0.0.1; admin endpoints listen here too)
  --profile PATH         latency profile for tier-speed emulation (default profiles/default.json)
  --no-emulation         answer as fast as the handler really ran
  --max-instances N      instances per tier at once; beyond it: 429 (default 2)
  --keep-alive-ms N      idle instances are reclaimed after this (default 300000)
  --instance-nice N      nice value (0-19) of instance threads, so emulated instances do not take
                         a dedicated device's CPU from the agent (default FC_LOCAL_INSTANCE_NICE, else 0)
  --handler PATH         module exporting handler/initializer (default functions/index.ts)
  --uplink PATH          pace request bodies to a bandwidth trace (loops)
  --uplink-format F      ${BANDWIDTH_FORMATS.join('|')} (default: inferred)
  --uplink-mbps N        pace request bodies to a constant rate instead
  --rtt-ms N             round trip added to every invocation (default 0)
  --faults PATH          JSON fault map, as for POST /local/faults
  --log-level L          pino level (default info)

Credentials: FC_LOCAL_ACCESS_KEY_ID / FC_LOCAL_ACCESS_KEY_SECRET (defaults LTAIlocaldevkey / local-dev-secret).`;

function num(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    console.error(`Expected \`--${name}\` to be a number ≥ ${min}, got \`${v}\``);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    profile: { type: 'string' },
    'no-emulation': { type: 'boolean' },
    'max-instances': { type: 'string' },
    'keep-alive-ms': { type: 'string' },
    'instance-nice': { type: 'string' },
    handler: { type: 'string' },
    uplink: { type: 'string' },
    'uplink-format': { type: 'string' },
    'uplink-mbps': { type: 'string' },
    'rtt-ms': { type: 'string' },
    faults: { type: 'string' },
    'log-level': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const fmt = values['uplink-format'];
if (fmt !== undefined && !BANDWIDTH_FORMATS.includes(fmt as BandwidthFormat)) {
  console.error(`Expected \`--uplink-format\` to be one of ${BANDWIDTH_FORMATS.join(', ')}, got \`${fmt}\``);
  process.exit(2);
}
const logger = pino({ level: values['log-level'] ?? 'info', base: { service: 'local-fc' }, redact: ['accessKeySecret', '*.accessKeySecret', 'authorization', '*.authorization'] });
const faults = values.faults ? faultsSchema.parse(JSON.parse(readFileSync(values.faults, 'utf8'))) : undefined;

const fc = await startLocalFc({
  port: num('port', values.port, 0) ?? 9000,
  host: values.host ?? '127.0.0.1',
  profile: values['no-emulation'] ? false : values.profile,
  maxInstances: num('max-instances', values['max-instances'], 1),
  keepAliveMs: num('keep-alive-ms', values['keep-alive-ms'], 0),
  instanceNice: num('instance-nice', values['instance-nice'], 0),
  handlerModule: values.handler,
  link: {
    trace: values.uplink ? loadBandwidthTrace(values.uplink, fmt as BandwidthFormat | undefined) : undefined,
    mbps: num('uplink-mbps', values['uplink-mbps'], 0),
    rttMs: num('rtt-ms', values['rtt-ms'], 0),
  },
  faults,
  logger,
});
logger.info({ functions: fc.tiers.map((t) => t.functionName), accountId: fc.accountId }, `local FC ready at ${fc.url} (tier speed emulated; see local-fc/README.md)`);

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    void fc.close().then(() => process.exit(0));
  });
}
