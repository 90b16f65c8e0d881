// The dashboard in a real browser against a real agent: the agent process (`edge-agent/main.ts`,
// real ONNX model, local FC) on loopback, real requests with rendered text lines, headless
// Chromium driven by playwright-core. Asserts what the page shows against the agent's own API,
// then saves artifacts/dashboard.png.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { dashboardRoutes } from '../edge-agent/service/dashboard-routes.ts';
import { Rng } from '../shared/rng.ts';
import { randomLine, renderTextLine } from '../shared/text-line-images.ts';
import { REPO, startAgentProcess, type AgentProcess } from './helpers/agent-process.ts';

const CHROMIUM = '/usr/bin/chromium';
/**
 * The browser suite needs Debian's chromium. A machine without it opts out explicitly with
 * SEB_SKIP_BROWSER_TESTS=1 (see the README); otherwise a missing browser fails the suite loudly.
 */
const SKIP_BROWSER = process.env.SEB_SKIP_BROWSER_TESTS === '1';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

describe('dashboardRoutes', () => {
  const app = new Hono().route('/', dashboardRoutes());

  it('serves the page, its assets and uPlot from the installed package', async () => {
    const page = await app.request('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    for (const ref of ['/vendor/uplot.js', '/vendor/uplot.css', '/dashboard/dashboard.js', '/dashboard/dashboard.css']) {
      expect(html).toContain(ref);
      const res = await app.request(ref);
      expect(res.status, ref).toBe(200);
    }
    expect(await (await app.request('/vendor/uplot.js')).text()).toContain('uPlot');
    expect((await app.request('/dashboard/dashboard.js')).headers.get('content-type')).toContain('javascript');
  });

  it('answers 404 with a JSON error for files it does not serve', async () => {
    for (const path of ['/dashboard/secret.txt', '/dashboard/..%2Fdashboard-routes.ts', '/vendor/uplot.cjs.js']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      expect((await res.json()) as object).toHaveProperty('error', 'not_found');
    }
  });

  it('fails when built over a folder without the page files', () => {
    expect(() => dashboardRoutes({ dir: mkdtempSync(join(tmpdir(), 'nodash-')) })).toThrow(/dashboard asset .*index\.html/);
  });
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

interface InferAnswer {
  text: string;
  route: { target: string; tier?: string; batchSize: number };
  costUsd: number;
  deadlineMet: boolean;
}

describe.skipIf(SKIP_BROWSER)('dashboard in a browser', () => {
  let agent: AgentProcess | undefined;
  let url = '';
  let context: BrowserContext;
  let userDataDir = '';
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`the browser suite needs Chromium at ${CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it). On a machine without it, set SEB_SKIP_BROWSER_TESTS=1 to skip this suite explicitly.`);
    }
    agent = await startAgentProcess();
    url = agent.url;
    userDataDir = mkdtempSync(join(tmpdir(), 'seb-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 1000 },
    });
    page = await context.newPage();
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await agent?.stop();
  });

  it('opened after the traffic, shows it: charts hold points from before, events listed, tables as /v1/plan says', async () => {
    // Traffic first, with no page open: rendered text lines, in three waves a second apart.
    const rng = new Rng(11);
    const images = await Promise.all(Array.from({ length: 8 }, () => renderTextLine(randomLine(rng))));
    const answers: InferAnswer[] = [];
    let failed = 0;
    for (let wave = 0; wave < 3; wave++) {
      await Promise.all(
        images.map(async (png, i) => {
          // Two generous deadline classes, so the plan has more than one line. A request the agent
          // still fails (a 504 when a cold tier is slow on a busy machine) is not an answer, and
          // the agent does not count it as one either.
          const deadlineMs = i % 2 ? '6000' : '10000';
          const res = await fetch(`${url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': deadlineMs }, body: new Uint8Array(png) });
          if (res.status === 200) answers.push((await res.json()) as InferAnswer);
          else {
            expect([502, 503, 504]).toContain(res.status);
            failed++;
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 1200));
    }
    expect(answers.length / (answers.length + failed), `${answers.length} of ${answers.length + failed} answered 200`).toBeGreaterThanOrEqual(0.95);
    // Let the last answers reach a 1-s point, and a few seconds of silence pass.
    await new Promise((r) => setTimeout(r, 3000));

    const openedAtMs = Date.now();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${url}/`);
    await page.waitForSelector('body[data-history-loaded="true"]', { timeout: 15_000 });
    await page.waitForSelector('#conn[data-state="live"]');

    // The charts hold the history: many points, the first from well before the page opened.
    const held = await page.evaluate(() => ({ points: Number(document.body.dataset.points), firstMs: Number(document.body.dataset.firstPointMs) }));
    expect(held.points).toBeGreaterThan(5);
    expect(held.firstMs).toBeLessThan(openedAtMs - 5000);
    // … and drew them: the rate chart has pixels of the estimate's colour (#b45309), the batch
    // chart of the edge's (#374151), both plotted from points older than the page.
    const inked = (id: string, rgb: [number, number, number]) =>
      page.$eval(
        `#${id} canvas`,
        (c, want) => {
          const cv = c as HTMLCanvasElement;
          const px = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
          let n = 0;
          for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i] - want[0]) < 24 && Math.abs(px[i + 1] - want[1]) < 24 && Math.abs(px[i + 2] - want[2]) < 24 && px[i + 3] > 200) n++;
          return n;
        },
        rgb,
      );
    expect(await inked('chart-rate', [0xb4, 0x53, 0x09])).toBeGreaterThan(20);
    if (answers.some((a) => a.route.target === 'edge')) expect(await inked('chart-batches', [0x37, 0x41, 0x51])).toBeGreaterThan(20);

    // The events list is filled with what happened before the page opened.
    const listed = await page.$$eval('#events li', (lis) => lis.map((li) => (li as HTMLElement).dataset.type));
    expect(listed.length).toBeGreaterThan(10);
    expect(listed).toContain('dispatch');
    expect(listed).toContain('complete');

    // The request count is the history's, and counts every answer.
    await expect.poll(async () => (await page.textContent('[data-testid=requests]'))?.replace(/,/g, ''), { timeout: 5000 }).toBe(String(answers.length));

    // The rate estimate shown is the decayed one: after ≥ 3 s of silence it is ≤ 3 / silence.
    const latest = (await (await fetch(`${url}/v1/history`)).json()) as { points: { rateShownRps: number; rateEstimateRps: number; sinceArrivalMs: number }[] };
    const last = latest.points.at(-1)!;
    expect(last.sinceArrivalMs).toBeGreaterThanOrEqual(3000);
    expect(last.rateShownRps).toBeLessThanOrEqual(Math.min(last.rateEstimateRps, 3 / (last.sinceArrivalMs / 1000)) + 1e-9);
    expect(Number(await page.textContent('[data-testid=rate-estimate]'))).toBeLessThanOrEqual(1.01);

    // Tier table and plan table: as /v1/plan says. The plan may change between two reads (a
    // replan, a tier going cold), so compare the page with a fresh plan until they agree.
    await page.waitForSelector('body[data-plan-loaded="true"]');
    const view = async () => {
      const plan = (await (await fetch(`${url}/v1/plan`)).json()) as PlanBody;
      const shown = await page.$$eval('#tiers tbody tr', (rows) =>
        rows.map((r) => ({ tier: (r as HTMLElement).dataset.tier, chosen: r.classList.contains('chosen'), state: r.querySelector('[data-col=state]')?.textContent?.trim() })),
      );
      const classTargets = await page.$$eval('#plan tbody tr[data-deadline] [data-col=target]', (cells) => cells.map((c) => c.textContent?.trim()));
      const excluded = new Set([...plan.plan.excludedTargets, ...Object.keys(plan.estimates.unhealthy)]);
      const expected = tierKeysOf(plan).map((tier) => ({ tier, chosen: chosenTiersOf(plan).has(tier), state: `${plan.estimates.tiers[tier].state}${excluded.has(tier) ? ' · excluded' : ''}` }));
      return { agrees: JSON.stringify(shown) === JSON.stringify(expected) && JSON.stringify(classTargets) === JSON.stringify(plan.plan.cloud.classes.map((c) => c.tier ?? '–')), shown, expected, plan };
    };
    await expect.poll(async () => (await view()).agrees, { timeout: 10_000, interval: 500 }).toBe(true);
    const { plan, shown: tierRows } = await view();
    expect(tierRows.length).toBe(Object.keys(plan.estimates.tiers).length);
    expect(tierRows.length).toBeGreaterThan(0);
    expect(plan.plan.cloud.classes.length).toBeGreaterThan(0);

    // Route split over the window: every target that answered a request is in the share bar and
    // the per-target table, with as many answers as the clients got from it.
    const byTarget = new Map<string, number>();
    for (const a of answers) {
      const t = a.route.target === 'edge' ? 'edge' : (a.route.tier ?? a.route.target);
      byTarget.set(t, (byTarget.get(t) ?? 0) + 1);
    }
    const shares = await page.$$eval('#shares > div', (ds) => ds.map((d) => (d as HTMLElement).dataset.target));
    expect(new Set(shares)).toEqual(new Set(byTarget.keys()));
    const table = await page.$$eval('#targets tbody tr', (rows) =>
      rows.map((r) => ({ target: (r as HTMLElement).dataset.target!, answered: Number(r.querySelector('[data-col=answered]')!.textContent), mean: Number(r.querySelector('[data-col=mean]')!.textContent), max: Number(r.querySelector('[data-col=max]')!.textContent) })),
    );
    for (const [t, n] of byTarget) {
      const row = table.find((r) => r.target === t);
      expect(row, t).toBeDefined();
      expect(row!.answered, t).toBe(n);
      expect(row!.mean, t).toBeGreaterThanOrEqual(1);
      expect(row!.max, t).toBeGreaterThanOrEqual(Math.ceil(row!.mean));
    }

    // Cost: the page's cumulative cost is what the agent's Prometheus counter says it spent.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const spentUsd = [...metrics.matchAll(/^agent_cost_usd_total\{[^}]*\} (\S+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
    await expect.poll(async () => Number(await page.textContent('[data-testid=cost]')), { timeout: 5000 }).toBeCloseTo(spentUsd, 6);

    // Every chart box has a canvas; a reload shows the same history.
    for (const id of ['chart-rate', 'chart-link', 'chart-fits', 'chart-queue', 'chart-batches', 'chart-cost']) {
      const box = await page.$eval(`#${id} canvas`, (c) => ({ w: (c as HTMLCanvasElement).width, h: (c as HTMLCanvasElement).height }));
      expect(box.w, id).toBeGreaterThan(100);
      expect(box.h, id).toBeGreaterThan(50);
    }
    mkdirSync(join(REPO, 'artifacts'), { recursive: true });
    await page.screenshot({ path: join(REPO, 'artifacts', 'dashboard.png'), fullPage: true });

    await page.reload();
    await page.waitForSelector('body[data-history-loaded="true"]', { timeout: 15_000 });
    expect(Number(await page.evaluate(() => document.body.dataset.firstPointMs))).toBe(held.firstMs);
    expect(pageErrors).toEqual([]);
  });
});

interface PlanBody {
  plan: { cloud: { classes: { tier: string | null; budgetMs: number }[] }; costTable: { rows: { tier: string }[] }; excludedTargets: string[] };
  estimates: { tiers: Record<string, { state: 'warm' | 'cold' }>; unhealthy: Record<string, number> };
}

/** Tier keys in the order /v1/plan lists their states. */
function tierKeysOf(plan: PlanBody): string[] {
  return Object.keys(plan.estimates.tiers);
}

/** Tiers the plan routes some deadline class to. */
function chosenTiersOf(plan: PlanBody): Set<string> {
  return new Set(plan.plan.cloud.classes.map((c) => c.tier).filter((t): t is string => typeof t === 'string'));
}
