// Live dashboard of the edge agent. It reads two things:
//  - GET /v1/history: the agent's last 15 minutes of 1-second points and its last 500 events,
//    fetched whole when the page opens (so it shows what happened before) and then polled with
//    `?after=<seq>` for what is new;
//  - GET /v1/plan: `{ plan, estimates, ... }`, the core's typed Plan and Estimates
//    (edge-agent/core/types.ts), polled for the tables and the latency fits.
// Fields are read by their names in those types; nothing is guessed.

/* global uPlot */

const HISTORY_POLL_MS = 1000;
const PLAN_POLL_MS = 2000;
/** Events listed on the page (the agent keeps 500; the newest are shown first). */
const MAX_LISTED_EVENTS = 200;
const PALETTE = ['#2b6cb0', '#d97706', '#059669', '#9333ea', '#dc2626', '#0891b2', '#65a30d', '#db2777'];
const EDGE_COLOUR = '#374151';
/** Above this (100 Gbit/s) an uplink estimate means "not limited by bandwidth" (the core's ∞). */
const MAX_PLAUSIBLE_MBPS = 1e5;

// ---------------------------------------------------------------- formatting

function fmt(v, digits = 1) {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  if (Math.abs(v) > 1e15) return '∞';
  if (Math.abs(v) >= 1000) return v.toLocaleString('en-US', { maximumFractionDigits: 0 });
  return v.toFixed(digits);
}
function fmtUsd(v) {
  if (v === undefined || v === null) return '–';
  if (v === 0) return '0';
  return v >= 0.01 ? v.toFixed(4) : v.toPrecision(3);
}
function fmtAxisUsd(v) {
  if (v === 0) return '0';
  return Math.abs(v) < 0.001 ? v.toExponential(0) : Number(v.toPrecision(2)).toString();
}
function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
function setText(id, text) {
  const el = document.getElementById(id);
  if (el && el.textContent !== text) el.textContent = text;
}

// ---------------------------------------------------------------- state

const state = {
  /** HistoryPoint[] (edge-agent/service/history.ts), oldest first, within `windowMs`. */
  points: [],
  /** HistoryEvent[] of changepoints over the window. */
  changepoints: [],
  windowMs: 15 * 60_000,
  seq: 0,
  /** Targets in order of first appearance; edge first. */
  targets: ['edge'],
  /** GET /v1/plan: { plan: Plan, estimates: Estimates, queueDepth, busy, replans, changepoints, targets }. */
  snapshot: undefined,
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

// ---------------------------------------------------------------- charts

const charts = {};

function chartWidth(el) {
  return Math.max(200, el.clientWidth);
}

function changepointMarkers(stream) {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          for (const cp of state.changepoints) {
            if (cp.data.stream !== stream) continue;
            // Mark when the change happened (changeAtMs), not when BOCPD was sure of it (atMs);
            // both are on the agent's monotonic clock, epochMs is the wall time of the event.
            const lagMs = Math.max(0, (cp.data.atMs ?? 0) - (cp.data.changeAtMs ?? cp.data.atMs ?? 0));
            const x = u.valToPos((cp.epochMs - lagMs) / 1000, 'x', true);
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
  const u = new uPlot(
    {
      width: chartWidth(el),
      height: 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      series: [{}, ...series.map((x) => ({ points: { show: false }, ...x }))],
      axes: [{}, { size: 50 }],
      ...extra,
    },
    [[], ...series.map(() => [])],
    el,
  );
  charts[id] = u;
  return u;
}

function renderLegend(el, names, colours = {}) {
  let legend = el.nextElementSibling?.classList.contains('legend') ? el.nextElementSibling : null;
  if (!legend) {
    legend = document.createElement('div');
    legend.className = 'legend hint';
    el.after(legend);
  }
  legend.innerHTML = names.map((t) => `<span><i class="swatch" style="background:${colours[t] ?? colourOf(t)}"></i>${escapeHtml(t)}</span>`).join(' &nbsp; ');
}

function initCharts() {
  const rateColours = { 'measured (5 s window)': '#2b6cb0', 'estimate (BOCPD, decayed in silence)': '#b45309' };
  timeChart(
    'chart-rate',
    [
      { label: 'measured', stroke: '#2b6cb0', fill: 'rgba(43,108,176,.12)', width: 1.5 },
      { label: 'estimate', stroke: '#b45309', width: 2 },
    ],
    { plugins: [changepointMarkers('arrivals')] },
  );
  renderLegend(document.getElementById('chart-rate'), Object.keys(rateColours), rateColours);
  timeChart('chart-link', [{ label: 'Mbit/s', stroke: '#059669', width: 2 }], { plugins: [changepointMarkers('link')] });
  timeChart('chart-queue', [{ label: 'queued', stroke: '#9333ea', fill: 'rgba(147,51,234,.10)', width: 2 }], {
    scales: { x: { time: true }, y: { range: (_, min, max) => [0, Math.max(5, max ?? 0)] } },
  });
  const costColours = { 'cumulative cost $': '#d97706', 'deadline met %': '#1a7f4b' };
  timeChart(
    'chart-cost',
    [
      { label: 'cost $', stroke: '#d97706', width: 2, scale: 'usd' },
      { label: 'deadline met %', stroke: '#1a7f4b', width: 2, scale: '%' },
    ],
    {
      scales: { x: { time: true }, usd: { range: (_, min, max) => [0, Math.max(1e-6, (max ?? 0) * 1.1)] }, '%': { range: [0, 100] } },
      axes: [{}, { scale: 'usd', size: 64, values: (_, vals) => vals.map((v) => fmtAxisUsd(v)) }, { scale: '%', side: 1, grid: { show: false }, size: 40 }],
    },
  );
  renderLegend(document.getElementById('chart-cost'), Object.keys(costColours), costColours);
  rebuildFitChart();
  rebuildBatchChart();
  addEventListener('resize', () => {
    for (const [id, u] of Object.entries(charts)) u.setSize({ width: chartWidth(document.getElementById(id)), height: id === 'chart-batches' ? 160 : 180 });
  });
}

// ---------------------------------------------------------------- the plan (typed)

/** Latency fits per target from `estimates.latency` (LatencyFitSnapshot: aMs, kMs, q95Ms). */
function planFits() {
  const s = state.snapshot;
  if (!s) return [];
  const sizes = s.plan.costTable.batchSizes;
  const maxBatch = sizes.length ? Math.max(...sizes) : 16;
  const out = Object.entries(s.estimates.latency).map(([target, f]) => ({ target, aMs: f.aMs, kMs: f.kMs, q95Ms: f.q95Ms, maxBatch }));
  out.sort((a, b) => (a.target === 'edge' ? -1 : b.target === 'edge' ? 1 : 0));
  return out;
}

function rebuildFitChart() {
  const id = 'chart-fits';
  const el = document.getElementById(id);
  charts[id]?.destroy();
  const fits = planFits();
  const series = [];
  for (const f of fits) {
    series.push({ label: f.target, stroke: colourOf(f.target), width: 2, points: { show: false } });
    series.push({ label: `${f.target} q95`, stroke: colourOf(f.target), width: 1, dash: [4, 4], points: { show: false } });
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
  const maxB = Math.max(8, ...fits.map((f) => f.maxBatch));
  const xs = Array.from({ length: maxB }, (_, i) => i + 1);
  const data = [xs];
  for (const f of fits) {
    data.push(xs.map((b) => f.aMs + f.kMs * b));
    data.push(xs.map((b) => f.aMs + f.kMs * b + f.q95Ms));
  }
  return data;
}

/** Tier rows: `estimates.tiers` (warm/cold) joined with `plan.costTable.rows` and the classes. */
function planTiers() {
  const s = state.snapshot;
  if (!s) return [];
  const { plan, estimates } = s;
  const rows = new Map(plan.costTable.rows.map((r) => [r.tier, r]));
  const chosen = new Map();
  for (const c of plan.cloud.classes) if (c.tier && !chosen.has(c.tier)) chosen.set(c.tier, c);
  const excluded = new Set([...plan.excludedTargets, ...Object.keys(estimates.unhealthy)]);
  // Compare every tier at the plan's batch size (the first class's): "what this tier would cost
  // under the current plan".
  const planBatch = plan.cloud.classes[0]?.batchSize;
  return Object.entries(estimates.tiers).map(([key, t]) => {
    const row = rows.get(key);
    const fit = estimates.latency[key];
    const cls = chosen.get(key);
    const batchSize = cls?.batchSize ?? planBatch;
    const i = row && batchSize !== undefined ? plan.costTable.batchSizes.indexOf(batchSize) : -1;
    const perReq = cls ? cls.costPerRequestUsd : i >= 0 ? row.costPerRequestUsd[i] : undefined;
    return { key, vcpu: row?.vcpu, memoryMb: row?.memoryMb, state: t.state, excluded: excluded.has(key), aMs: fit?.aMs, kMs: fit?.kMs, batchSize, costPer1000Usd: perReq === undefined ? undefined : perReq * 1000, chosen: chosen.has(key) };
  });
}

function renderPlan() {
  const s = state.snapshot;
  if (!s) return;
  const rows = planTiers();
  for (const r of rows) noteTarget(r.key);
  document.querySelector('#tiers tbody').innerHTML = rows
    .map((r) => {
      const badge = r.excluded
        ? `<span class="badge excluded" title="excluded from the plan (unhealthy: throttled, failing or timing out)">${r.state} · excluded</span>`
        : `<span class="badge ${r.state}">${r.state}</span>`;
      return `<tr data-tier="${escapeHtml(r.key)}" class="${r.chosen ? 'chosen' : ''}">
        <td><i class="swatch" style="background:${colourOf(r.key)}"></i>${escapeHtml(r.key)}</td>
        <td>${fmt(r.vcpu, r.vcpu !== undefined && r.vcpu < 1 ? 2 : 0)}</td>
        <td>${r.memoryMb === undefined ? '–' : `${r.memoryMb} MB`}</td>
        <td data-col="state">${badge}</td>
        <td>${fmt(r.aMs)}</td><td>${fmt(r.kMs)}</td>
        <td>${r.batchSize ?? '–'}</td>
        <td data-col="cost">${fmtUsd(r.costPer1000Usd)}</td>
        <td data-col="chosen">${r.chosen ? '✔ chosen' : ''}</td></tr>`;
    })
    .join('');
  const { edge, cloud } = s.plan;
  const edgeRow = `<tr data-target="edge"><td>edge share · ${fmt(edge.rateRps, 2)} of ${fmt(edge.capacityRps, 1)} req/s</td>
      <td data-col="target"><i class="swatch" style="background:${colourOf('edge')}"></i>edge</td><td>${edge.batchSize}</td><td>0</td></tr>`;
  document.querySelector('#plan tbody').innerHTML =
    edgeRow +
    cloud.classes
      .map((c) => {
        const target = c.tier ?? '–';
        return `<tr data-deadline="${c.budgetMs}" class="${c.feasible ? '' : 'infeasible'}"><td>cloud ≥ ${fmt(c.budgetMs, 0)} ms <span class="hint">(~${fmt(c.totalMs, 0)} ms)</span>${c.feasible ? '' : ' <span class="hint">infeasible</span>'}</td>
          <td data-col="target">${c.tier ? `<i class="swatch" style="background:${colourOf(c.tier)}"></i>` : ''}${escapeHtml(target)}</td>
          <td>${c.batchSize}</td><td>${c.tier ? fmtUsd(c.costPerRequestUsd * 1000) : '–'}</td></tr>`;
      })
      .join('');
  setText('plan-note', `plan #${s.plan.version} (${s.plan.reason})`);
  setText('kpi-replans', fmt(s.replans, 0));

  const fits = planFits();
  for (const f of fits) noteTarget(f.target);
  const u = charts['chart-fits'];
  if (u.fitKey !== fits.map((f) => f.target).join(',')) rebuildFitChart();
  else u.setData(fitData(fits));
}

// ---------------------------------------------------------------- history → charts

/** Per-target batch sizes: the mean size of each second's completed batches, one series per target. */
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
      scales: { x: { time: true }, y: { range: (_, min, max) => [0, Math.max(2, (max ?? 0) + 1)] } },
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
  const ps = state.points;
  return [ps.map((p) => p.epochMs / 1000), ...targets.map((t) => ps.map((p) => (p.batches[t] ? p.batches[t].items / p.batches[t].batches : null)))];
}

/** Batches, items and answered share per target over the window. */
function windowTotals() {
  const by = new Map();
  const row = (t) => {
    if (!by.has(t)) by.set(t, { batches: 0, items: 0, maxBatchSize: 0, answered: 0 });
    return by.get(t);
  };
  for (const p of state.points) {
    for (const [t, b] of Object.entries(p.batches)) {
      const r = row(t);
      r.batches += b.batches;
      r.items += b.items;
      r.maxBatchSize = Math.max(r.maxBatchSize, b.maxBatchSize);
    }
    for (const [t, n] of Object.entries(p.answeredBy)) row(t).answered += n;
  }
  return by;
}

function renderWindow() {
  const totals = windowTotals();
  for (const t of totals.keys()) noteTarget(t);
  const answered = [...totals.values()].reduce((s, r) => s + r.answered, 0);
  const shown = state.targets.filter((t) => totals.get(t)?.answered);
  document.getElementById('shares').innerHTML = shown
    .map((t) => {
      const n = totals.get(t).answered;
      const share = (100 * n) / answered;
      return `<div data-target="${escapeHtml(t)}" style="width:${share}%;background:${colourOf(t)}" title="${escapeHtml(t)}: ${n} answered">${share >= 12 ? `${escapeHtml(t)} ${share.toFixed(0)}%` : ''}</div>`;
    })
    .join('');
  document.querySelector('#targets tbody').innerHTML = state.targets
    .filter((t) => totals.get(t)?.batches || totals.get(t)?.answered)
    .map((t) => {
      const r = totals.get(t);
      return `<tr data-target="${escapeHtml(t)}"><td><i class="swatch" style="background:${colourOf(t)}"></i>${escapeHtml(t)}</td>
        <td data-col="batches">${r.batches}</td><td data-col="mean">${r.batches ? fmt(r.items / r.batches, 1) : '–'}</td><td data-col="max">${r.maxBatchSize || '–'}</td>
        <td data-col="answered">${r.answered}</td><td data-col="share">${answered ? fmt((100 * r.answered) / answered, 1) : '–'}</td></tr>`;
    })
    .join('');
  const minutes = state.points.length ? (state.points[state.points.length - 1].epochMs - state.points[0].epochMs) / 60_000 : 0;
  setText('window-note', `last ${fmt(minutes, 1)} of ${fmt(state.windowMs / 60_000, 0)} min`);
}

function renderSeries() {
  const ps = state.points;
  const t = ps.map((p) => p.epochMs / 1000);
  charts['chart-rate'].setData([t, ps.map((p) => p.rateRps), ps.map((p) => p.rateShownRps)]);
  // The core reports an unbounded bandwidth (up to Number.MAX_VALUE) when transfer time shows no
  // size-dependence (loopback): keep it off the scale.
  charts['chart-link'].setData([t, ps.map((p) => (p.uplinkMbps === null || p.uplinkMbps > MAX_PLAUSIBLE_MBPS ? null : p.uplinkMbps))]);
  charts['chart-queue'].setData([t, ps.map((p) => p.queueDepth)]);
  charts['chart-cost'].setData([t, ps.map((p) => p.costUsd), ps.map((p) => (p.deadlineAttainment === null ? null : p.deadlineAttainment * 100))]);
  const u = charts['chart-batches'];
  if (u.targetsKey !== state.targets.join(',')) rebuildBatchChart();
  else u.setData(batchData(state.targets));
  // What the charts hold, for a reader of the DOM (and the browser test): how many points, from when.
  document.body.dataset.points = String(ps.length);
  if (ps.length) document.body.dataset.firstPointMs = String(ps[0].epochMs);
}

function renderKpis() {
  const p = state.points[state.points.length - 1];
  if (!p) return;
  setText('kpi-requests', fmt(p.answered, 0));
  setText('kpi-rate', fmt(p.rateRps, 2));
  setText('kpi-rate-est', fmt(p.rateShownRps, 2));
  const est = document.getElementById('kpi-rate-est');
  est.title = p.rateEstimateRps === null ? '' : `the core plans with ${fmt(p.rateEstimateRps, 2)} req/s; ${p.sinceArrivalMs === null ? 'no request yet' : `last request ${fmt(p.sinceArrivalMs / 1000, 0)} s ago`}`;
  const bw = p.uplinkMbps;
  setText('kpi-bw', bw !== null && bw > MAX_PLAUSIBLE_MBPS ? '∞' : fmt(bw, 1));
  setText('kpi-queue', fmt(p.queueDepth, 0));
  setText('kpi-attain', p.deadlineAttainment === null ? '–' : fmt(p.deadlineAttainment * 100, 1));
  setText('kpi-cost', fmtUsd(p.costUsd));
  setText('kpi-cost1k', fmtUsd(p.costPer1000Usd));
  setText('kpi-replans', fmt(p.replans, 0));
  setText('kpi-cps', fmt(p.changepoints, 0));
}

// ---------------------------------------------------------------- events

/** One line of text per event type, from the fields the runtime and the core publish. */
function describeEvent(e) {
  const d = e.data ?? {};
  switch (e.type) {
    case 'dispatch':
      return `${d.batchSize} → ${d.target} (predicted ${fmt(d.predictedMs, 0)} ms${d.atRisk ? ', at risk' : ''})`;
    case 'complete':
      return d.ok === false ? `${d.batchSize} on ${d.target} failed: ${d.error}` : `${d.batchSize} on ${d.target} ${fmt(d.durationMs, 0)} ms${d.coldStart ? ' (cold start)' : ''}`;
    case 'changepoint': {
      const lagMs = Math.max(0, (d.atMs ?? 0) - (d.changeAtMs ?? d.atMs ?? 0));
      return `${d.stream}${lagMs > 0 ? ` ${fmt(lagMs / 1000, 1)} s ago` : ''} (p ${fmt(d.pChange, 2)})`;
    }
    case 'replan':
      return `#${d.version}: ${d.reason}`;
    case 'unhealthy':
      return `${d.target} excluded`;
    case 'healthy':
      return `${d.target} back`;
    case 'probe':
      return `${d.reason} → ${d.target}`;
    case 'reject':
      return `${d.code}`;
    default:
      return JSON.stringify(d).slice(0, 120);
  }
}

function addEvents(events) {
  if (events.length === 0) return;
  const ol = document.getElementById('events');
  const html = events
    .slice(-MAX_LISTED_EVENTS)
    .reverse()
    .map((e) => `<li data-type="${escapeHtml(e.type)}"><span class="kind">${escapeHtml(e.type)}</span>${escapeHtml(new Date(e.epochMs).toLocaleTimeString())} ${escapeHtml(describeEvent(e))}</li>`)
    .join('');
  ol.insertAdjacentHTML('afterbegin', html);
  while (ol.children.length > MAX_LISTED_EVENTS) ol.lastElementChild.remove();
}

// ---------------------------------------------------------------- polling

function applyHistory(h) {
  state.windowMs = h.windowMs;
  state.seq = h.seq;
  for (const p of h.points) {
    for (const t of Object.keys(p.batches)) noteTarget(t);
    for (const t of Object.keys(p.answeredBy)) noteTarget(t);
  }
  state.points.push(...h.points);
  state.changepoints.push(...h.changepoints);
  const last = state.points[state.points.length - 1];
  if (last) {
    const from = last.epochMs - state.windowMs;
    while (state.points.length && state.points[0].epochMs < from) state.points.shift();
    while (state.changepoints.length && state.changepoints[0].epochMs < from) state.changepoints.shift();
  }
  addEvents(h.events);
  renderSeries();
  renderWindow();
  renderKpis();
}

let historyBusy = false;
async function pollHistory() {
  if (historyBusy) return;
  historyBusy = true;
  const conn = document.getElementById('conn');
  try {
    const res = await fetch(`/v1/history${state.seq ? `?after=${state.seq}` : ''}`, { cache: 'no-store' });
    if (!res.ok) throw new Error(`GET /v1/history: ${res.status}`);
    const h = await res.json();
    // A restarted agent starts its sequence again: start over.
    if (h.seq < state.seq) {
      state.points = [];
      state.changepoints = [];
      state.seq = 0;
      document.getElementById('events').innerHTML = '';
    } else {
      applyHistory(h);
    }
    conn.dataset.state = 'live';
    conn.textContent = 'live';
    document.body.dataset.historyLoaded = 'true';
  } catch {
    conn.dataset.state = 'error';
    conn.textContent = 'reconnecting…';
  } finally {
    historyBusy = false;
  }
}

let planBusy = false;
async function pollPlan() {
  if (planBusy) return;
  planBusy = true;
  try {
    const res = await fetch('/v1/plan', { cache: 'no-store' });
    if (res.ok) {
      state.snapshot = await res.json();
      renderPlan();
      document.body.dataset.planLoaded = 'true';
    }
  } catch {
    // The agent may be restarting; the next poll retries.
  } finally {
    planBusy = false;
  }
}

initCharts();
pollHistory();
pollPlan();
setInterval(pollHistory, HISTORY_POLL_MS);
setInterval(pollPlan, PLAN_POLL_MS);
