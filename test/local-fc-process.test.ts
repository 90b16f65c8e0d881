/**
 * The local FC in a process of its own (what `npm start` runs): the agent starts it, calls it
 * with the real fc2 client and real OCR, and it goes away with the agent. Its nice value is read
 * from /proc for the process listening on the FC's port.
 */
import { getPriority } from 'node:os';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { LOCAL_FC_PROCESS_NICE, localFcProcess } from '../edge-agent/dev/embedded-local-fc.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

let agent: RunningAgent;

/** Pids of processes holding a listening TCP socket on `port` (Linux /proc). */
function listeners(port: number): number[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length > 9 && c[1].endsWith(`:${hex}`) && c[3] === '0A') inodes.add(c[9]);
    }
  }
  const pids: number[] = [];
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      for (const fd of readdirSync(`/proc/${d}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${d}/fd/${fd}`));
        if (m && inodes.has(m[1])) pids.push(Number(d));
      }
    } catch {
      // a process that ended or is not ours
    }
  }
  return [...new Set(pids)];
}

beforeAll(async () => {
  // FC only: every request goes to a tier of the child's local FC.
  agent = await startAgent(parseConfig({ port: 0, backends: ['fc'], logLevel: 'silent' }), { fc: localFcProcess() });
});

afterAll(async () => {
  await agent?.shutdown(2000);
});

describe('the local FC in its own process', () => {
  it('serves the agent, runs at a lower priority, and ends with the agent', async () => {
    const port = Number(new URL(agent.fcEndpoint!).port);
    const pids = listeners(port);
    expect(pids).toHaveLength(1);
    expect(pids[0]).not.toBe(process.pid);
    // Field 19 of /proc/<pid>/stat is the nice value (after the parenthesised command name).
    const stat = readFileSync(`/proc/${pids[0]}/stat`, 'utf8');
    // `nice -n` adds to the agent's own nice value (this test may itself run niced), capped at 19.
    expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])).toBe(Math.min(19, getPriority() + LOCAL_FC_PROCESS_NICE));

    const texts = ['Hello edge 2026', 'serverless 42'];
    const answers = await Promise.all(
      texts.map(async (t) => {
        const r = await fetch(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': '20000' }, body: new Uint8Array(await renderTextLine(t)) });
        return { status: r.status, body: (await r.json()) as { text?: string; route?: { target: string } } };
      }),
    );
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      expect(a.body.route?.target).not.toBe('edge');
      expect(a.body.text).toBe(texts[i]);
    });

    await agent.shutdown(2000);
    await expect(fetch(`${agent.fcEndpoint}/local/health`)).rejects.toThrow();
    expect(listeners(port)).toEqual([]);
  });
});
