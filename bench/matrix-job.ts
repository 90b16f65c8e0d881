/**
 * One run of the regime matrix, in a child process (bench/matrix.ts runs two at a time):
 * `node --import tsx bench/matrix-job.ts '<SimCliOptions as JSON>'` prints one JSON line with
 * every policy's summary, static-best's choice and the wall time.
 */
import { loadSim, type SimCliOptions } from '../simulator/config.ts';
import { runSimulation } from '../simulator/run.ts';

const opts = JSON.parse(process.argv[2] ?? '') as SimCliOptions;
const t0 = performance.now();
const loaded = loadSim(opts);
const r = runSimulation(loaded.config);
process.stdout.write(`${JSON.stringify({ policies: r.policies, staticBest: r.staticBest, wallS: (performance.now() - t0) / 1000 })}\n`);
