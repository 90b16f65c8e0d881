/**
 * The live dashboard: a static page (edge-agent/dashboard/) that draws the agent's history
 * (`/v1/history`: the last 15 min of 1-s points and the last 500 events, polled for what is new)
 * and plan (`/v1/plan`) with uPlot. No build chain: the page is plain
 * HTML/JS/CSS, and uPlot is served from the installed npm package so the page works offline.
 *
 * All files are read once, when the sub-app is built, so a missing asset fails at startup
 * (a configuration error) rather than as a 404 in someone's browser.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { HttpError } from './errors.ts';
import type { History } from './history.ts';

/** Folder holding index.html, dashboard.js and dashboard.css. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));

/** Page files served under `/dashboard/<name>`; anything else is a 404. */
const PAGE_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
} as const;

/** uPlot's browser build (an IIFE that defines `window.uPlot`) and its stylesheet. */
const VENDOR_FILES = {
  'uplot.js': { module: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  'uplot.css': { module: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
} as const;

/** Error thrown when a dashboard asset cannot be read while building the routes. */
export class DashboardAssetError extends Error {
  override name = 'DashboardAssetError';
}

interface Asset {
  readonly body: string;
  readonly type: string;
}

export interface DashboardRoutesOptions {
  /**
   * Folder of the page files.
   * @default DASHBOARD_DIR (edge-agent/dashboard/)
   */
  readonly dir?: string;
  /** The agent's history; without one, `GET /v1/history` is not served (the page then stays empty). */
  readonly history?: History;
}

function readAsset(path: string, type: string): Asset {
  try {
    return { body: readFileSync(path, 'utf8'), type };
  } catch (cause) {
    throw new DashboardAssetError(`dashboard asset ${path} cannot be read`, { cause });
  }
}

/**
 * Routes of the dashboard, to mount on the agent's app.
 * @example
 * app.route('/', dashboardRoutes()); // GET / → page, /dashboard/* → assets, /vendor/uplot.* → uPlot
 */
export function dashboardRoutes(options: DashboardRoutesOptions = {}): Hono {
  const dir = options.dir ?? DASHBOARD_DIR;
  const page = new Map<string, Asset>();
  for (const [name, type] of Object.entries(PAGE_FILES)) page.set(name, readAsset(join(dir, name), type));
  const require = createRequire(import.meta.url);
  const vendor = new Map<string, Asset>();
  for (const [name, { module, type }] of Object.entries(VENDOR_FILES)) {
    let path: string;
    try {
      path = require.resolve(module);
    } catch (cause) {
      throw new DashboardAssetError(`cannot find ${module}; is the uplot package installed?`, { cause });
    }
    vendor.set(name, readAsset(path, type));
  }

  const send = (asset: Asset | undefined, cache: string) =>
    asset ? new Response(asset.body, { headers: { 'content-type': asset.type, 'cache-control': cache } }) : undefined;

  const app = new Hono();
  // The page changes with the repo, the vendored library only with package upgrades.
  app.get('/', () => send(page.get('index.html'), 'no-cache')!);
  app.get('/dashboard/:file', (c) => send(page.get(c.req.param('file')), 'no-cache') ?? c.json({ error: 'not_found', message: `no dashboard file ${c.req.param('file')}` }, 404));
  const history = options.history;
  if (history) {
    // Whole numbers only: `after` is a sequence number from an earlier answer's `seq`.
    app.get('/v1/history', (c) => {
      const raw = c.req.query('after');
      const after = raw === undefined || raw === '' ? 0 : /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
      if (Number.isNaN(after)) throw new HttpError(400, 'bad_after', `Expected the after query parameter to be a sequence number (a whole number ≥ 0 from an earlier answer's \`seq\`), got \`${raw!.slice(0, 40)}\``);
      return c.json(history.snapshot(after), 200, { 'cache-control': 'no-store' });
    });
  }
  app.get('/vendor/:file', (c) => send(vendor.get(c.req.param('file')), 'public, max-age=86400') ?? c.json({ error: 'not_found', message: `no vendored file ${c.req.param('file')}` }, 404));
  return app;
}
