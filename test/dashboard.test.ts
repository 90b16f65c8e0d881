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
import { randomLine, renderTextLine } from './helpers/render-text.ts';
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

  it('shows the agent live: request count, tiers and plan as /v1/plan says, charts drawn', async () => {
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${url}/`);
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 15_000 });

    // Traffic: rendered text lines, in three waves so the charts get several points.
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

    // The request count the page shows comes from the stats stream: wait for it to catch up.
    await expect.poll(async () => (await page.textContent('[data-testid=requests]'))?.replace(/,/g, ''), { timeout: 10_000 }).toBe(String(answers.length));

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
    // The deadlines sent opened at least one cloud deadline class in the plan, and the page lists it.
    expect(plan.plan.cloud.classes.length).toBeGreaterThan(0);

    // Route shares: every target that answered a request appears in the share bar.
    const targets = new Set(answers.map((a) => a.route.target === 'edge' ? 'edge' : (a.route.tier ?? a.route.target)));
    const shown = await page.$$eval('#shares > div', (ds) => ds.map((d) => (d as HTMLElement).dataset.target));
    expect(new Set(shown)).toEqual(targets);

    // Cost: the page's cumulative cost is what the agent's Prometheus counter says it spent
    // (every FC batch, answered in time or not), and at least what the answers were billed.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const spentUsd = [...metrics.matchAll(/^agent_cost_usd_total\{[^}]*\} (\S+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
    await expect.poll(async () => Number(await page.textContent('[data-testid=cost]')), { timeout: 5000 }).toBeCloseTo(spentUsd, 6);
    expect(spentUsd).toBeGreaterThanOrEqual(answers.reduce((s, a) => s + a.costUsd, 0) - 1e-12);

    // Charts: uPlot drew a canvas in every chart box.
    for (const id of ['chart-rate', 'chart-link', 'chart-fits', 'chart-queue', 'chart-batches', 'chart-cost']) {
      const box = await page.$eval(`#${id} canvas`, (c) => ({ w: (c as HTMLCanvasElement).width, h: (c as HTMLCanvasElement).height }));
      expect(box.w, id).toBeGreaterThan(100);
      expect(box.h, id).toBeGreaterThan(50);
    }
    expect(pageErrors).toEqual([]);

    mkdirSync(join(REPO, 'artifacts'), { recursive: true });
    await page.screenshot({ path: join(REPO, 'artifacts', 'dashboard.png'), fullPage: true });
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
