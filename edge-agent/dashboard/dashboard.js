// Live dashboard of the edge agent. Reads two things only: the SSE stream /v1/events
// (dispatch, changepoint, replan events and a `stats` snapshot every second) and the plan at
// /v1/plan (polled). Every field is read through `pick` with fallbacks, so a payload that lacks
// a field leaves a dash on the page instead of breaking it.

/* global uPlot */

const PLAN_POLL_MS = 2000;
/** Time-series charts keep the last 10 minutes of 1-second stats. */
const MAX_POINTS = 600;
const MAX_BATCH_POINTS = 400;
const MAX_EVENTS = 40;
const PALETTE = ['#2b6cb0', '#d97706', '#059669', '#9333ea', '#dc2626', '#0891b2', '#65a30d', '#db2777'];
const EDGE_COLOUR = '#374151';
/** Above this (100 Gbit/s) an uplink estimate means "not limited by bandwidth". */
const MAX_PLAUSIBLE_MBPS = 1e5;

// ---------------------------------------------------------------- tolerant field access

/** First non-null value among dotted paths, e.g. pick(s, 'rateRps', 'arrival.rateRps'). */
function pick(obj, ...paths) {
  for (const path of paths) {
    let v = obj;
    for (const key of path.split('.')) {
      if (v == null) break;
      v = v[key];
    }
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}
function num(v) {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}
function pickNum(obj, ...paths) {
  for (const p of paths) {
    const n = num(pick(obj, p));
    if (n !== undefined) return n;
  }
  return undefined;
}
/** Values of an object-or-array as [key, value] pairs (arrays use the item's own id). */
function entriesOf(x, idKeys = ['key', 'target', 'id', 'tier', 'name']) {
  if (Array.isArray(x)) return x.map((v, i) => [String(pick(v, ...idKeys) ?? i), v]);
  if (x && typeof x === 'object') return Object.entries(x);
  return [];
}

function fmt(v, digits = 1) {
  if (v === undefined) return '–';
  if (Math.abs(v) > 1e15) return '∞'; // the core's stand-in for "unbounded" (Number.MAX_VALUE)
  if (Math.abs(v) >= 1000) return v.toLocaleString('en-US', { maximumFractionDigits: 0 });
  return v.toFixed(digits);
}
function fmtUsd(v) {
  if (v === undefined) return '–';
  if (v === 0) return '0';
  return v >= 0.01 ? v.toFixed(4) : v.toPrecision(3);
}
/** Axis ticks in dollars: few significant digits, no trailing zeros. */
function fmtAxisUsd(v) {
  if (v === 0) return '0';
  return Math.abs(v) < 0.001 ? v.toExponential(0) : Number(v.toPrecision(2)).toString();
}
/** `tier-c2-m4096` → { vcpu: 2, memoryMb: 4096 }, used only when the plan does not say. */
function parseTierKey(key) {
  const m = /c(\d+(?:_\d+)?)-m(\d+)/.exec(key);
  return m ? { vcpu: Number(m[1].replace('_', '.')), memoryMb: Number(m[2]) } : {};
}

// ---------------------------------------------------------------- state

const state = {
  t: [], rate: [], rateEst: [], bandwidth: [], queue: [], costUsd: [], attainPct: [],
  changepoints: [], // { t, kind }
  batches: { t: [], target: [], size: [] },
  targets: ['edge'], // in order of first appearance; edge first
  routeItems: new Map(), // target → items dispatched (counted on the page)
  tally: { items: 0, costUsd: 0 }, // page-side totals when stats lack them
  plan: undefined,
  lastStats: undefined,
};

function colourOf(target) {
  if (target === 'edge') return EDGE_COLOUR;
  const tiers = state.targets.filter((t) => t !== 'edge');
  const i = tiers.indexOf(target);
  return PALETTE[(i < 0 ? tiers.length : i) % PALETTE.length];
}
function noteTarget(target) {
  if (target && !state.targets.includes(target)) state.targets.push(target);
}
function push(arr, v, max = MAX_POINTS) {
  arr.push(v);
  if (arr.length > max) arr.shift();
}

// ---------------------------------------------------------------- charts

const charts = {};

function chartWidth(el) {
  return Math.max(200, el.clientWidth);
}
function changepointMarkers(kindFilter) {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          for (const cp of state.changepoints) {
            if (kindFilter && cp.kind && !kindFilter.test(cp.kind)) continue;
            const x = u.valToPos(cp.t, 'x', true);
            if (x < bbox.left || x > bbox.left + bbox.width) continue;
            ctx.strokeStyle = '#b3261e';
            ctx.setLineDash([4, 3]);
            ctx.lineWidth = 1.5 * devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(x, bbox.top);
            ctx.lineTo(x, bbox.top + bbox.height);
            ctx.stroke();
            ctx.fillStyle = '#b3261e';
            ctx.beginPath();
            ctx.moveTo(x - 5 * devicePixelRatio, bbox.top);
            ctx.lineTo(x + 5 * devicePixelRatio, bbox.top);
            ctx.lineTo(x, bbox.top + 8 * devicePixelRatio);
            ctx.fill();
          }
          ctx.restore();
        },
      ],
    },
  };
}

function timeChart(id, series, extra = {}) {
  const el = document.getElementById(id);
  const opts = {
    width: chartWidth(el),
    height: 180,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    series: [{}, ...series.map((x) => ({ points: { show: false }, ...x }))],
    axes: [{}, { size: 50 }],
    ...extra,
  };
  const u = new uPlot(opts, [[], ...series.map(() => [])], el);
  charts[id] = u;
  return u;
}

function initCharts() {
  timeChart(
    'chart-rate',
    [
      { label: 'observed (5 s window)', stroke: '#2b6cb0', fill: 'rgba(43,108,176,.12)', width: 1.5 },
      { label: 'estimated (BOCPD segment)', stroke: '#b45309', width: 2 },
    ],
    { plugins: [changepointMarkers(/rate|arrival/i)] },
  );
  renderLegend(document.getElementById('chart-rate'), ['observed (5 s window)', 'estimated (BOCPD segment)'], { 'observed (5 s window)': '#2b6cb0', 'estimated (BOCPD segment)': '#b45309' });
  timeChart('chart-link', [{ label: 'Mbit/s', stroke: '#059669', width: 2 }], { plugins: [changepointMarkers(/link|band|uplink/i)] });
  timeChart('chart-queue', [{ label: 'queued', stroke: '#9333ea', fill: 'rgba(147,51,234,.10)', width: 2 }], {
    scales: { x: { time: true }, y: { range: (_, min, max) => [0, Math.max(5, max ?? 0)] } },
  });
  timeChart(
    'chart-cost',
    [
      { label: 'cost $', stroke: '#d97706', width: 2, scale: 'usd', value: (_, v) => (v == null ? '–' : fmtUsd(v)) },
      { label: 'deadline met %', stroke: '#1a7f4b', width: 2, scale: '%', value: (_, v) => (v == null ? '–' : v.toFixed(1)) },
    ],
    {
      scales: { x: { time: true }, usd: { range: (_, min, max) => [0, Math.max(1e-6, (max ?? 0) * 1.1)] }, '%': { range: [0, 100] } },
      axes: [{}, { scale: 'usd', size: 64, values: (_, vals) => vals.map((v) => fmtAxisUsd(v)) }, { scale: '%', side: 1, grid: { show: false }, size: 40 }],
    },
  );
  renderLegend(document.getElementById('chart-cost'), ['cumulative cost $', 'deadline met %'], { 'cumulative cost $': '#d97706', 'deadline met %': '#1a7f4b' });
  rebuildFitChart();
  rebuildBatchChart();
  addEventListener('resize', () => {
    for (const [id, u] of Object.entries(charts)) u.setSize({ width: chartWidth(document.getElementById(id)), height: 180 });
  });
}

/** The fit and batch charts have one series per target, so they are rebuilt when targets appear. */
function rebuildFitChart() {
  const id = 'chart-fits';
  const el = document.getElementById(id);
  charts[id]?.destroy();
  const fits = planFits();
  const series = [];
  for (const f of fits) {
    series.push({ label: f.target, stroke: colourOf(f.target), width: 2, points: { show: false } });
    series.push({ label: `${f.target} q95`, stroke: colourOf(f.target), width: 1, dash: [4, 4], points: { show: false }, show: f.q95Ms !== undefined });
  }
  const u = new uPlot(
    {
      width: chartWidth(el),
      height: 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      axes: [{ label: 'batch size', size: 36, labelSize: 14, incrs: [1, 2, 4, 8, 16, 32, 64, 128] }, { size: 50, label: 'ms', labelSize: 14 }],
      series: [{ label: 'batch' }, ...series],
    },
    fitData(fits),
    el,
  );
  u.fitKey = fits.map((f) => f.target).join(',');
  charts[id] = u;
  renderLegend(el, fits.map((f) => f.target));
}

function fitData(fits) {
  const maxB = Math.max(8, ...fits.map((f) => f.maxBatch ?? 0));
  const xs = Array.from({ length: maxB }, (_, i) => i + 1);
  const data = [xs];
  for (const f of fits) {
    data.push(xs.map((b) => f.aMs + f.kMs * b));
    data.push(xs.map((b) => (f.q95Ms === undefined ? null : f.aMs + f.kMs * b + f.q95Ms)));
  }
  return data;
}

function rebuildBatchChart() {
  const id = 'chart-batches';
  const el = document.getElementById(id);
  charts[id]?.destroy();
  const targets = [...state.targets];
  const u = new uPlot(
    {
      width: chartWidth(el),
      height: 160,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // Same time window as the stats charts, so the axes line up and read alike.
        x: { time: true, range: (_, min, max) => (state.t.length > 1 ? [Math.min(state.t[0], min ?? Infinity), Math.max(state.t[state.t.length - 1], max ?? -Infinity)] : [min, max]) },
        y: { range: (_, min, max) => [0, Math.max(2, (max ?? 0) + 1)] },
      },
      axes: [{}, { size: 40, label: 'items', labelSize: 14 }],
      series: [{}, ...targets.map((t) => ({ label: t, stroke: colourOf(t), fill: colourOf(t), paths: () => null, points: { show: true, size: 7, fill: colourOf(t) } }))],
    },
    batchData(targets),
    el,
  );
  u.targetsKey = targets.join(',');
  charts[id] = u;
  renderLegend(el, targets);
}

function batchData(targets) {
  const b = state.batches;
  return [b.t, ...targets.map((t) => b.target.map((bt, i) => (bt === t ? b.size[i] : null)))];
}

function renderLegend(el, targets, colours = {}) {
  let legend = el.nextElementSibling?.classList.contains('legend') ? el.nextElementSibling : null;
  if (!legend) {
    legend = document.createElement('div');
    legend.className = 'legend hint';
    el.after(legend);
  }
  legend.innerHTML = targets.map((t) => `<span><i class="swatch" style="background:${colours[t] ?? colourOf(t)}"></i>${escapeHtml(t)}</span>`).join(' &nbsp; ');
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// ---------------------------------------------------------------- plan normalisation

// GET /v1/plan is `{ plan, estimates, queueDepth, busy, replans, changepoints, targets }` where
// `plan` is the core's Plan (edge share, cloud classes, cost table) and `estimates` its
// estimators (rate, link, latency fits, tier warm/cold). Other shapes fall back to flat fields.

/** Batch sizes of the cost table (the x axis of the latency-fit chart). */
function planBatchSizes() {
  const sizes = pick(state.plan, 'plan.costTable.batchSizes', 'costTable.batchSizes');
  return Array.isArray(sizes) ? sizes.map(num).filter((b) => b !== undefined) : [];
}

/** Latency fits per target: [{ target, aMs, kMs, q95Ms }]. */
function planFits() {
  const p = state.plan;
  if (!p) return [];
  const src = pick(p, 'estimates.latency', 'estimates.targets', 'latency', 'targets', 'fits');
  const out = [];
  for (const [target, f] of entriesOf(src)) {
    const fit = pick(f, 'fit') ?? f;
    const aMs = pickNum(fit, 'aMs', 'a');
    const kMs = pickNum(fit, 'kMs', 'k');
    if (aMs === undefined || kMs === undefined) continue;
    out.push({ target, aMs, kMs, q95Ms: pickNum(fit, 'q95Ms', 'residualQ95Ms', 'q95'), maxBatch: Math.max(0, ...planBatchSizes()) || pickNum(p, 'maxBatch') });
  }
  out.sort((a, b) => (a.target === 'edge' ? -1 : b.target === 'edge' ? 1 : 0));
  return out;
}

/** Cost-table row of a tier: { vcpu, memoryMb, costAt(b) } or undefined. */
function costRow(key) {
  const table = pick(state.plan, 'plan.costTable', 'costTable');
  const sizes = planBatchSizes();
  const rows = pick(table, 'rows');
  const row = Array.isArray(rows) ? rows.find((r) => pick(r, 'tier', 'key', 'target') === key) : undefined;
  if (!row) return undefined;
  const costs = pick(row, 'costPerRequestUsd');
  return {
    vcpu: pickNum(row, 'vcpu'),
    memoryMb: pickNum(row, 'memoryMb'),
    costAt(b) {
      if (!Array.isArray(costs)) return undefined;
      const i = b === undefined ? -1 : sizes.indexOf(b);
      if (i >= 0) return num(costs[i]);
      const all = costs.map(num).filter((v) => v !== undefined);
      return all.length ? Math.min(...all) : undefined;
    },
    /** Batch size with the lowest cost per request (used when no class picks one). */
    bestBatch() {
      if (!Array.isArray(costs)) return undefined;
      let best;
      costs.forEach((c, i) => {
        if (num(c) !== undefined && (best === undefined || c < costs[best])) best = i;
      });
      return best === undefined ? undefined : sizes[best];
    },
  };
}

/** Deadline classes of the cloud plan: [{ deadlineMs, target, batchSize, costPer1000Usd, feasible, totalMs }]. */
function planClasses() {
  const p = state.plan;
  if (!p) return [];
  const src = pick(p, 'plan.cloud.classes', 'plan.classes', 'classes', 'deadlineClasses');
  return entriesOf(src, ['budgetMs', 'deadlineMs', 'key', 'id']).map(([k, c]) => {
    const perReq = pickNum(c, 'costPerRequestUsd', 'costUsdPerRequest');
    const target = pick(c, 'tier', 'target', 'route.target');
    return {
      deadlineMs: pickNum(c, 'budgetMs', 'deadlineMs', 'deadline') ?? num(k),
      target: target == null ? '–' : String(target),
      batchSize: pickNum(c, 'batchSize', 'batch'),
      costPer1000Usd: pickNum(c, 'costPer1000Usd') ?? (perReq === undefined ? undefined : perReq * 1000),
      feasible: pick(c, 'feasible'),
      totalMs: pickNum(c, 'totalMs'),
    };
  });
}

/** Tiers some deadline class is routed to (the plan's choice), in class order. */
function chosenTargets() {
  const m = new Map();
  for (const c of planClasses()) if (c.target && c.target !== '–' && !m.has(c.target)) m.set(c.target, c);
  return m;
}

/** Tier rows: [{ key, vcpu, memoryMb, warm, aMs, kMs, batchSize, costPer1000Usd, chosen }]. */
function planTiers() {
  const p = state.plan;
  if (!p) return [];
  let src = pick(p, 'estimates.tiers', 'tiers');
  if (!src) {
    const rows = pick(p, 'plan.costTable.rows', 'costTable.rows');
    src = Array.isArray(rows) ? rows : [];
  }
  const fits = new Map(planFits().map((f) => [f.target, f]));
  const chosen = chosenTargets();
  const excludedRaw = pick(p, 'plan.excludedTargets', 'excludedTargets');
  const excluded = new Set(Array.isArray(excludedRaw) ? excludedRaw.map(String) : []);
  for (const [k, until] of entriesOf(pick(p, 'estimates.unhealthy'))) if (num(until) !== undefined) excluded.add(k);
  // Compare every tier at the plan's batch size (the first class's), so the column reads as
  // "what this tier would cost under the current plan".
  const planBatch = [...chosen.values()][0]?.batchSize;
  const rows = [];
  for (const [key, t] of entriesOf(src, ['tier', 'key', 'target', 'id'])) {
    if (key === 'edge') continue;
    const fromKey = parseTierKey(key);
    const cr = costRow(key);
    const warmRaw = pick(t, 'state', 'warm', 'isWarm');
    const warm = warmRaw === true || warmRaw === 'warm' ? true : warmRaw === false || warmRaw === 'cold' ? false : undefined;
    const fit = fits.get(key);
    const batchSize = chosen.get(key)?.batchSize ?? planBatch ?? cr?.bestBatch();
    const perReq = chosen.get(key)?.costPer1000Usd !== undefined ? chosen.get(key).costPer1000Usd / 1000 : cr?.costAt(batchSize);
    const chosenFlag = pick(t, 'chosen', 'isChosen');
    rows.push({
      key,
      vcpu: cr?.vcpu ?? pickNum(t, 'vcpu', 'cpu') ?? fromKey.vcpu,
      memoryMb: cr?.memoryMb ?? pickNum(t, 'memoryMb', 'memorySize') ?? fromKey.memoryMb,
      warm,
      excluded: excluded.has(key),
      aMs: fit?.aMs ?? pickNum(t, 'aMs'),
      kMs: fit?.kMs ?? pickNum(t, 'kMs'),
      batchSize,
      costPer1000Usd: perReq === undefined ? pickNum(t, 'costPer1000Usd') : perReq * 1000,
      chosen: typeof chosenFlag === 'boolean' ? chosenFlag : chosen.has(key),
    });
  }
  return rows;
}

/** The edge's part of the plan: { batchSize, capacityRps, rateRps, utilisation }. */
function planEdge() {
  const e = pick(state.plan, 'plan.edge', 'edge');
  if (!e || typeof e !== 'object') return undefined;
  return { batchSize: pickNum(e, 'batchSize'), capacityRps: pickNum(e, 'capacityRps'), rateRps: pickNum(e, 'rateRps'), utilisation: pickNum(e, 'utilisation') };
}

// ---------------------------------------------------------------- rendering

function setText(id, text) {
  const el = document.getElementById(id);
  if (el && el.textContent !== text) el.textContent = text;
}

function renderTiers() {
  const rows = planTiers();
  for (const r of rows) noteTarget(r.key);
  const tbody = document.querySelector('#tiers tbody');
  tbody.innerHTML = rows
    .map((r) => {
      const stateBadge = r.excluded
        ? `<span class="badge excluded" title="excluded from the plan (unhealthy: throttled, failing or timing out)">${r.warm === true ? 'warm' : r.warm === false ? 'cold' : '?'} · excluded</span>`
        : r.warm === true ? '<span class="badge warm">warm</span>' : r.warm === false ? '<span class="badge cold">cold</span>' : '<span class="badge unknown">?</span>';
      return `<tr data-tier="${escapeHtml(r.key)}" class="${r.chosen ? 'chosen' : ''}">
        <td><i class="swatch" style="background:${colourOf(r.key)}"></i>${escapeHtml(r.key)}</td>
        <td>${fmt(r.vcpu, r.vcpu !== undefined && r.vcpu < 1 ? 2 : 0)}</td>
        <td>${r.memoryMb === undefined ? '–' : `${r.memoryMb} MB`}</td>
        <td data-col="state">${stateBadge}</td>
        <td>${fmt(r.aMs)}</td><td>${fmt(r.kMs)}</td>
        <td>${r.batchSize ?? '–'}</td>
        <td data-col="cost">${fmtUsd(r.costPer1000Usd)}</td>
        <td data-col="chosen">${r.chosen ? '✔ chosen' : ''}</td></tr>`;
    })
    .join('');
  const classes = planClasses();
  const edge = planEdge();
  const edgeRow = edge
    ? `<tr data-target="edge"><td>edge share${edge.rateRps !== undefined ? ` · ${fmt(edge.rateRps, 2)} of ${fmt(edge.capacityRps, 1)} req/s` : ''}</td>
        <td data-col="target"><i class="swatch" style="background:${colourOf('edge')}"></i>edge</td><td>${edge.batchSize ?? '–'}</td><td>0</td></tr>`
    : '';
  document.querySelector('#plan tbody').innerHTML =
    edgeRow +
    classes
      .map(
        (c) => `<tr data-deadline="${c.deadlineMs ?? ''}" class="${c.feasible === false ? 'infeasible' : ''}"><td>cloud ≥ ${c.deadlineMs === undefined ? '?' : fmt(c.deadlineMs, 0)} ms${c.totalMs !== undefined ? ` <span class="hint">(~${fmt(c.totalMs, 0)} ms)</span>` : ''}${c.feasible === false ? ' <span class="hint">infeasible</span>' : ''}</td>
        <td data-col="target">${c.target === '–' ? '' : `<i class="swatch" style="background:${colourOf(c.target)}"></i>`}${escapeHtml(c.target)}</td>
        <td>${c.batchSize ?? '–'}</td><td>${c.target === '–' ? '–' : fmtUsd(c.costPer1000Usd)}</td></tr>`,
      )
      .join('');
  const version = pick(state.plan, 'plan.version', 'version', 'planVersion');
  setText('plan-note', version === undefined ? '' : `plan #${version}`);
}

function renderFits() {
  const fits = planFits();
  for (const f of fits) noteTarget(f.target);
  const u = charts['chart-fits'];
  if (!u) return;
  if (u.fitKey !== fits.map((f) => f.target).join(',')) rebuildFitChart();
  else u.setData(fitData(fits));
}

function renderBatches() {
  const u = charts['chart-batches'];
  if (!u) return;
  if (u.targetsKey !== state.targets.join(',')) rebuildBatchChart();
  else u.setData(batchData(state.targets));
  const total = [...state.routeItems.values()].reduce((a, b) => a + b, 0);
  document.getElementById('shares').innerHTML = total
    ? state.targets
        .filter((t) => state.routeItems.get(t))
        .map((t) => {
          const share = (100 * state.routeItems.get(t)) / total;
          return `<div data-target="${escapeHtml(t)}" style="width:${share}%;background:${colourOf(t)}" title="${escapeHtml(t)}: ${state.routeItems.get(t)} items">${share >= 12 ? `${escapeHtml(t)} ${share.toFixed(0)}%` : ''}</div>`;
        })
        .join('')
    : '';
}

function renderSeries() {
  charts['chart-rate']?.setData([state.t, state.rate, state.rateEst]);
  charts['chart-link']?.setData([state.t, state.bandwidth]);
  charts['chart-queue']?.setData([state.t, state.queue]);
  charts['chart-cost']?.setData([state.t, state.costUsd, state.attainPct]);
}

function logEvent(kind, text) {
  const ol = document.getElementById('events');
  const li = document.createElement('li');
  li.innerHTML = `<span class="kind">${escapeHtml(kind)}</span>${escapeHtml(new Date().toLocaleTimeString())} ${escapeHtml(text)}`;
  ol.prepend(li);
  while (ol.children.length > MAX_EVENTS) ol.lastElementChild.remove();
}

// ---------------------------------------------------------------- event handling

function onStats(s) {
  state.lastStats = s;
  const t = (pickNum(s, 'epochMs', 'timestampMs') ?? Date.now()) / 1000;
  const rate = pickNum(s, 'rateRps', 'arrivalRateRps', 'arrival.rateRps', 'estimates.rateRps', 'rate');
  const bwBps = pickNum(s, 'bandwidthBps', 'uplinkBps', 'link.bandwidthBps', 'estimates.bandwidthBps');
  const bwMbps =
    pickNum(s, 'uplinkMbps', 'bandwidthMbps', 'link.uplinkMbps') ?? (bwBps === undefined ? undefined : bwBps / 1e6) ?? pickNum(state.plan, 'estimates.link.uplinkMbps');
  const queue = pickNum(s, 'queueDepth', 'queue.depth', 'queued', 'queueLength');
  const answered = pickNum(s, 'answered', 'requests.answered', 'completed', 'requests.completed', 'counts.answered', 'served') ?? state.tally.items;
  const met = pickNum(s, 'deadlineMet', 'requests.deadlineMet', 'counts.deadlineMet', 'met');
  const attainPct = pickNum(s, 'deadlineAttainmentPct', 'attainmentPct') ?? (() => {
    const frac = pickNum(s, 'deadlineAttainment', 'attainment');
    if (frac !== undefined) return frac <= 1 ? frac * 100 : frac;
    return met !== undefined && answered ? (100 * met) / answered : undefined;
  })();
  const costUsd = pickNum(s, 'costUsd', 'totalCostUsd', 'cost.totalUsd', 'cumulativeCostUsd') ?? state.tally.costUsd;
  const per1k = pickNum(s, 'costPer1000Usd', 'costPer1kUsd') ?? (answered ? (costUsd / answered) * 1000 : undefined);

  push(state.t, t);
  push(state.rate, rate ?? null);
  push(state.rateEst, pickNum(state.plan, 'estimates.rate.rateRps', 'plan.rateRps') ?? null);
  // An estimator that sees no size-dependence in transfer time (loopback) reports an unbounded
  // bandwidth (up to Number.MAX_VALUE): show it as such and keep it off the chart's scale.
  const bwUnbounded = bwMbps !== undefined && bwMbps > MAX_PLAUSIBLE_MBPS;
  push(state.bandwidth, bwUnbounded ? null : (bwMbps ?? null));
  push(state.queue, queue ?? null);
  push(state.costUsd, costUsd ?? null);
  push(state.attainPct, attainPct ?? null);

  setText('kpi-requests', fmt(answered, 0));
  setText('kpi-rate', fmt(rate, 2));
  setText('kpi-bw', bwUnbounded ? '∞' : fmt(bwMbps, 1));
  setText('kpi-queue', fmt(queue, 0));
  setText('kpi-attain', fmt(attainPct, 1));
  setText('kpi-cost', fmtUsd(costUsd));
  setText('kpi-cost1k', fmtUsd(per1k));
  const replans = pickNum(s, 'replans', 'planVersion');
  if (replans !== undefined) setText('kpi-replans', fmt(replans, 0));
  const cps = pickNum(s, 'changepoints');
  if (cps !== undefined) setText('kpi-cps', fmt(Math.max(cps, state.changepoints.length), 0));

  // Route shares from the agent's own counters when it has them (complete since start).
  const routes = pick(s, 'routes', 'routeItems', 'byTarget');
  if (routes) {
    for (const [target, v] of entriesOf(routes)) {
      const items = num(pick(v, 'items', 'requests', 'count')) ?? num(v);
      if (items !== undefined) {
        noteTarget(target);
        state.routeItems.set(target, items);
      }
    }
  }
  renderSeries();
  renderBatches();
}

function onDispatch(d) {
  const target = pick(d, 'target', 'route.target', 'tier') ?? '?';
  const size = pickNum(d, 'batchSize', 'size', 'items', 'route.batchSize') ?? 0;
  noteTarget(target);
  const b = state.batches;
  push(b.t, (pickNum(d, 'epochMs') ?? Date.now()) / 1000, MAX_BATCH_POINTS);
  push(b.target, target, MAX_BATCH_POINTS);
  push(b.size, size, MAX_BATCH_POINTS);
  if (!pick(state.lastStats, 'routes', 'routeItems', 'byTarget')) state.routeItems.set(target, (state.routeItems.get(target) ?? 0) + size);
  const predicted = pickNum(d, 'predictedMs');
  logEvent('dispatch', `${size} → ${target}${predicted !== undefined ? ` (predicted ${predicted.toFixed(0)} ms)` : ''}`);
  renderBatches();
}

/** A batch came back (or failed): the page's own cost tally, for agents whose stats lack one. */
function onComplete(d) {
  const target = pick(d, 'target') ?? '?';
  const size = pickNum(d, 'batchSize') ?? 0;
  if (pick(d, 'ok') !== false) state.tally.items += size;
  state.tally.costUsd += pickNum(d, 'costUsd') ?? 0;
  const ms = pickNum(d, 'durationMs', 'wallMs');
  const what = pick(d, 'ok') === false ? `failed: ${pick(d, 'error', 'message') ?? '?'}` : `${ms === undefined ? '' : `${ms.toFixed(0)} ms`}${pick(d, 'coldStart') ? ' (cold start)' : ''}`;
  logEvent('complete', `${size} on ${target} ${what}`);
}

function onChangepoint(c) {
  const kind = String(pick(c, 'stream', 'kind', 'series', 'signal') ?? 'arrivals');
  // Mark when the change happened (changeAtMs), not when BOCPD became sure of it (atMs); both
  // are on the agent's monotonic clock, epochMs is the wall time of the event.
  const epochMs = pickNum(c, 'epochMs') ?? Date.now();
  const lagMs = (pickNum(c, 'atMs') ?? 0) - (pickNum(c, 'changeAtMs') ?? pickNum(c, 'atMs') ?? 0);
  state.changepoints.push({ t: (epochMs - Math.max(0, lagMs)) / 1000, kind });
  setText('kpi-cps', String(Math.max(state.changepoints.length, Number(document.getElementById('kpi-cps').textContent) || 0)));
  const p = pickNum(c, 'pChange');
  logEvent('changepoint', `${kind}${lagMs > 0 ? ` ${(lagMs / 1000).toFixed(1)} s ago` : ''}${p !== undefined ? ` (p ${p.toFixed(2)})` : ''}`);
  charts['chart-rate']?.redraw();
  charts['chart-link']?.redraw();
}

function onReplan(r) {
  const reason = pick(r, 'reason', 'cause', 'why');
  logEvent('replan', reason ? String(reason) : 'new plan');
  const v = pickNum(r, 'version', 'planVersion', 'replans');
  if (v !== undefined) setText('kpi-replans', fmt(v, 0));
  pollPlan(); // show the new plan now, not at the next poll
}

function parse(ev) {
  try {
    return JSON.parse(ev.data);
  } catch {
    return {};
  }
}

function connect() {
  const conn = document.getElementById('conn');
  const es = new EventSource('/v1/events');
  es.onopen = () => {
    conn.dataset.state = 'live';
    conn.textContent = 'live';
  };
  es.onerror = () => {
    // EventSource reconnects on its own; just say so.
    conn.dataset.state = 'error';
    conn.textContent = 'reconnecting…';
  };
  es.addEventListener('stats', (ev) => onStats(parse(ev)));
  es.addEventListener('dispatch', (ev) => onDispatch(parse(ev)));
  es.addEventListener('complete', (ev) => onComplete(parse(ev)));
  es.addEventListener('changepoint', (ev) => onChangepoint(parse(ev)));
  es.addEventListener('replan', (ev) => onReplan(parse(ev)));
  // Servers that send unnamed events with a `type` field.
  es.onmessage = (ev) => {
    const d = parse(ev);
    const type = pick(d, 'type', 'event');
    const body = pick(d, 'data', 'payload') ?? d;
    if (type === 'stats') onStats(body);
    else if (type === 'dispatch') onDispatch(body);
    else if (type === 'complete') onComplete(body);
    else if (type === 'changepoint') onChangepoint(body);
    else if (type === 'replan') onReplan(body);
  };
}

let polling = false;
async function pollPlan() {
  if (polling) return;
  polling = true;
  try {
    const res = await fetch('/v1/plan', { cache: 'no-store' });
    if (res.ok) {
      state.plan = await res.json();
      renderTiers();
      renderFits();
      const rate = pickNum(state.plan, 'estimates.rate.rateRps', 'rateRps');
      if (rate !== undefined && state.t.length === 0) setText('kpi-rate', fmt(rate, 2));
      document.body.dataset.planLoaded = 'true';
    }
  } catch {
    // The agent may be restarting; the next poll retries.
  } finally {
    polling = false;
  }
}

initCharts();
connect();
pollPlan();
setInterval(pollPlan, PLAN_POLL_MS);
