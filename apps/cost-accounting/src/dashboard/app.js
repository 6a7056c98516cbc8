// agentplane cost dashboard: reads the analyst API with the key given (hash #key=… or the form).
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const charts = {};
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('key')) $('key').value = hash.get('key');
  if (hash.get('range')) $('range').value = hash.get('range');

  async function api(path) {
    const res = await fetch(path, { headers: { authorization: 'Bearer ' + $('key').value } });
    if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
    return res.json();
  }
  const usd = (s) => Number(s); // display only: the API's decimals are exact
  const fmt = (s) => '$' + usd(s).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 4 });
  const secs = (iso) => Date.parse(iso) / 1000;

  function plot(id, opts, data) {
    if (charts[id]) charts[id].destroy();
    const el = $(id);
    el.innerHTML = '';
    const width = Math.max(320, el.clientWidth || 560);
    charts[id] = new uPlot(Object.assign({ width, height: 240, legend: { live: false } }, opts), data, el);
  }

  function renderTenants(items) {
    const body = $('tenants').tBodies[0];
    body.innerHTML = '';
    for (const t of items) {
      const tr = document.createElement('tr');
      const use = usd(t.thresholdUsd) > 0 ? Math.round((usd(t.totalUsd) / usd(t.forecastUsd)) * 100) + '%' : '–';
      tr.innerHTML = '<td>' + t.name + ' <small>(' + t.tenantId + ')</small></td><td>' + fmt(t.inferenceUsd) + '</td><td>' + fmt(t.toolUsd) +
        '</td><td><b>' + fmt(t.totalUsd) + '</b></td><td>' + fmt(t.forecastUsd) + '</td><td>' + fmt(t.thresholdUsd) + ' (+' + t.guardrailPct + '%)</td><td>' + use +
        '</td><td><span class="badge ' + (t.guardrailTripped ? 'tripped">tripped' : 'ok">ok') + '</span></td>';
      tr.dataset.tenant = t.tenantId;
      body.appendChild(tr);
    }
  }

  async function load() {
    document.body.dataset.ready = 'false';
    $('status').textContent = 'Loading…';
    const [span, bucket] = $('range').value.split('|');
    const now = Date.now();
    const tenant = $('tenant').value;
    const q = (extra) => new URLSearchParams(Object.assign(tenant ? { tenant } : {}, extra)).toString();
    const tenants = (await api('/v1/tenants')).items;
    const sel = $('tenant');
    if (sel.options.length === 1) for (const t of tenants) sel.add(new Option(t.name, t.tenantId));
    renderTenants(tenants);

    const step = { minute: 60000, hour: 3600000, day: 86400000 }[bucket];
    const from = Math.floor((now - Number(span)) / step) * step;
    const got = (await api('/v1/metrics?' + q({ from: new Date(from).toISOString(), to: new Date(now + step).toISOString(), bucket }))).items;
    // Every bucket of the range on the x axis: empty ones have no spend and no rates.
    const byT = new Map(got.map((r) => [Date.parse(r.bucket), r]));
    const m = [];
    for (let t = from; t <= now; t += step) m.push(byT.get(t) || { bucket: new Date(t).toISOString(), inferenceUsd: '0', totalUsd: '0' });
    const x = m.map((r) => secs(r.bucket));
    const inf = m.map((r) => usd(r.inferenceUsd));
    const tot = m.map((r) => usd(r.totalUsd));
    // Stacked: the tool band is drawn between inference and the total.
    plot('spend', {
      series: [{}, { label: 'inference', stroke: '#3b6fd8', fill: 'rgba(59,111,216,.35)' }, { label: 'inference + tool', stroke: '#e08a1e', fill: 'rgba(224,138,30,.25)' }],
      bands: [{ series: [2, 1] }],
      axes: [{}, { values: (u, v) => v.map((n) => '$' + n) }],
    }, [x, inf, tot]);

    const r = (k) => m.map((row) => (row[k] === undefined ? null : row[k]));
    plot('signals', {
      scales: { y: { range: [0, 1.05] } },
      series: [{}, { label: 'tool success', stroke: '#2a9d4b', spanGaps: true }, { label: 'planner pass', stroke: '#3b6fd8', spanGaps: true }, { label: 'session success', stroke: '#8e44ad', spanGaps: true }],
      axes: [{}, { values: (u, v) => v.map((n) => Math.round(n * 100) + '%') }],
    }, [x, r('toolSuccessRate'), r('plannerPassRate'), r('sessionSuccessRate')]);
    plot('latency', {
      series: [{}, { label: 'planner p95', stroke: '#3b6fd8', spanGaps: true }, { label: 'tool p95', stroke: '#e08a1e', spanGaps: true }],
    }, [x, r('plannerLatencyP95Ms'), r('toolLatencyP95Ms')]);

    // Month to date, per tenant: cumulative spend as a share of its forecast, with the
    // forecast (100 %) and guardrail (100 % + guardrailPct) lines.
    const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
    const scoped = tenant ? tenants.filter((t) => t.tenantId === tenant) : tenants;
    const dx = [];
    for (let t = monthStart; t <= now + 86400000; t += 86400000) dx.push(t / 1000);
    const series = [{}];
    const data = [dx];
    const palette = ['#3b6fd8', '#e08a1e', '#2a9d4b', '#8e44ad', '#c0392b', '#16a085', '#7f8c8d'];
    for (const [i, t] of scoped.entries()) {
      const days = (await api('/v1/metrics?' + new URLSearchParams({ tenant: t.tenantId, from: new Date(monthStart).toISOString(), to: new Date(now + 86400000).toISOString(), bucket: 'day' }))).items;
      const perDay = new Map(days.map((d) => [Date.parse(d.bucket) / 1000 + 86400, usd(d.totalUsd)]));
      let acc = 0;
      const f = usd(t.forecastUsd);
      data.push(dx.map((d) => { acc += perDay.get(d) || 0; return f > 0 ? Math.round((acc / f) * 10000) / 100 : null; }));
      series.push({ label: t.tenantId + (t.guardrailTripped ? ' (guardrail tripped)' : ''), stroke: palette[i % palette.length], width: 2 });
    }
    const pct = scoped.length ? 100 + Math.max(...scoped.map((t) => t.guardrailPct)) : 115;
    series.push({ label: 'forecast', stroke: '#2a9d4b', dash: [6, 4] }, { label: 'guardrail', stroke: '#c0392b', dash: [2, 3] });
    data.push(dx.map(() => 100), dx.map(() => pct));
    plot('budget', { series, axes: [{}, { values: (u, v) => v.map((n) => n + '%') }] }, data);

    const tripped = scoped.filter((t) => t.guardrailTripped).map((t) => t.tenantId);
    $('status').textContent = 'Updated ' + new Date().toLocaleTimeString() + ' · ' + m.length + ' buckets' + (tripped.length ? ' · guardrail tripped: ' + tripped.join(', ') : '');
    document.body.dataset.ready = 'true';
  }

  $('controls').addEventListener('submit', (e) => {
    e.preventDefault();
    load().catch((err) => { $('status').textContent = String(err.message || err); document.body.dataset.ready = 'error'; });
  });
  $('tenant').addEventListener('change', () => $('controls').requestSubmit());
  $('range').addEventListener('change', () => $('controls').requestSubmit());
  if ($('key').value) $('controls').requestSubmit();
})();
