// prepare-annotations UI: draws status.py's document (served by ui/server.py, or embedded
// in the report), runs jobs through the server and streams their log. No framework,
// no external assets; data is only ever inserted as text, never as HTML.
(() => {
  'use strict';
  const CFG = JSON.parse(document.getElementById('ui-config').textContent);
  const SERVER = CFG.mode === 'server';
  const SVG = 'http://www.w3.org/2000/svg';
  const STATES = ['failed', 'running', 'partial', 'stale', 'missing', 'up to date'];
  let species = CFG.species;
  let doc = null;
  let selected = null;          // {kind: 'row'|'node', id}
  let running = false;
  let lastRunId = null;
  let lastKey = null;            // the last drawn document (redrawn only when it changes)
  let ticks = 0;

  const $ = (sel) => document.querySelector(sel);
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function sv(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, String(v));
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  const stcls = (s) => 'st-' + String(s).replace(/ /g, '-');
  const worst = (rows) => STATES.find((s) => rows.some((r) => r.state === s)) || 'missing';
  function human(n) {
    if (n === null || n === undefined) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i ? n.toFixed(1) + ' ' + units[i] : n + ' B';
  }
  const num = (n) => (n === null || n === undefined ? '' : Number(n).toLocaleString('en'));
  const secs = (n) => (n === null || n === undefined ? '' : Number(n).toFixed(1) + ' s');
  const base = (p) => String(p || '').split('/').pop();
  function counts(rows) {
    const c = {};
    for (const r of rows) c[r.state] = (c[r.state] || 0) + 1;
    return STATES.filter((s) => c[s]).map((s) => c[s] + ' ' + s).join(', ');
  }

  // ---------------------------------------------------------------- data
  async function load() {
    if (!SERVER) { doc = CFG.data[species]; render(); return; }
    try {
      const r = await fetch('/api/status?species=' + encodeURIComponent(species), {cache: 'no-store'});
      const j = await r.json();
      if (!r.ok) throw new Error(j.error || r.statusText);
      const key = JSON.stringify({...j, generated: null, ui_run: null});
      if (key !== lastKey) { lastKey = key; doc = j; render(); }
      if (j.ui_run && !j.ui_run.done && !running) setRunning(true, j.ui_run);
    } catch (e) {
      $('#meta').textContent = 'cannot read status: ' + e.message;
    }
  }

  // ---------------------------------------------------------------- rendering
  function render() {
    if (!doc) return;
    const d = doc.discovery || {};
    const overall = $('#overall');
    overall.textContent = doc.up_to_date ? 'up to date' : 'not up to date';
    overall.className = 'badge ' + stcls(doc.up_to_date ? 'up to date' : 'stale');
    $('#meta').textContent = `${doc.cache_dir} · status ${doc.generated}` +
      (d.base_url ? ` · listing ${d.base_url} (release ${d.release || '?'}, ${d.files} files)` : '');
    document.body.dataset.generated = doc.generated;
    const warn = $('#warn');
    warn.textContent = d.listing_changed
      ? `BASE_URL now (${d.config_base_url}) is not the one of the last discovery (${d.base_url || '?'}): ` +
        'everything counts as stale and a run would discover again. Start the page with the BASE_URL the cache was built with.'
      : '';
    warn.hidden = !d.listing_changed;
    drawGraph();
    drawRows();
    drawResources();
    drawUploads();
    drawDetails();
    const t = doc.totals || {};
    const stages = Object.entries(t.seconds_by_stage || {}).map(([s, v]) => `${s} ${v.toFixed(1)} s`).join(', ');
    const peak = t.max_peak_rss ? ` · largest peak RSS ${human(t.max_peak_rss.bytes)} (${t.max_peak_rss.step} ${base(t.max_peak_rss.target)})` : '';
    $('#totals').textContent = `${t.files} files, ${human(t.bytes)}, ${num(t.rows)} rows · wall seconds by stage: ${stages || '-'}${peak} · ${counts(doc.rows)}`;
  }

  function rowsOf(stage) { return doc.rows.filter((r) => r.stage === stage); }

  function drawGraph() {
    const W = 980, H = 320;
    const svg = sv('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'lineage graph'});
    svg.append(sv('defs', {}, sv('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7,
      markerHeight: 7, orient: 'auto-start-reverse'}, sv('path', {d: 'M0,0 L10,5 L0,10 z', fill: '#8a94a3'}))));
    const up = doc.uploads || [];
    const upl = (kind) => up.find((u) => u.kind === kind);
    const man = rowsOf('manifest');
    const src = rowsOf('lm-source'), inp = rowsOf('lm-inputs');
    const d = doc.discovery || {};
    let host = '';
    try { host = d.base_url ? new URL(d.base_url).host : ''; } catch (e) { host = ''; }
    const N = {
      listing: {x: 10, y: 20, w: 130, h: 62, title: 'Ensembl listing', sub: host || 'HTTP', ext: true},
      manifest: {x: 170, y: 20, w: 130, h: 62, title: 'vcf_urls.json', sub: `${d.files || 0} files`, rows: man},
      vcf: {x: 330, y: 20, w: 215, h: 100, title: 'VCFs', sub: 'fetch + sum-check', rows: rowsOf('vcf'), cells: true},
      parquet: {x: 575, y: 20, w: 215, h: 100, title: 'Parquet', sub: 'vcf2parquet', rows: rowsOf('parquet'), cells: true},
      hub1: {x: 820, y: 20, w: 150, h: 62, title: 'Hub: ensembl', sub: uploadSub(upl('ensembl')), ext: true, upload: upl('ensembl')},
      curation: {x: 10, y: 200, w: 130, h: 62, title: 'LongevityMap', sub: 'curation (HTTP)', ext: true},
      sqlite: {x: 170, y: 200, w: 130, h: 62, title: 'longevitymap.sqlite', sub: 'fetch + check', rows: src},
      inputs: {x: 375, y: 155, w: 150, h: 50, title: 'inputs.txt', sub: 'file list, CURATOR, METHOD', rows: inp},
      hits: {x: 330, y: 225, w: 215, h: 85, title: 'LongevityMap hits', sub: 'per-file semi-join (map)', rows: rowsOf('lm-hits'), cells: true},
      tables: {x: 575, y: 185, w: 215, h: 100, title: 'module tables', sub: 'DuckDB sql/*.sql', rows: rowsOf('lm-table'), cells: true},
      hub2: {x: 820, y: 200, w: 150, h: 62, title: 'Hub: annotators', sub: uploadSub(upl('longevitymap')), ext: true, upload: upl('longevitymap')},
    };
    const R = (n) => [n.x + n.w, n.y + n.h / 2], L = (n) => [n.x, n.y + n.h / 2];
    const B = (n, f = 0.5) => [n.x + n.w * f, n.y + n.h], T = (n, f = 0.5) => [n.x + n.w * f, n.y];
    const curve = (a, b, vertical) => vertical
      ? `M${a[0]},${a[1]} C${a[0]},${(a[1] + b[1]) / 2} ${b[0]},${(a[1] + b[1]) / 2} ${b[0]},${b[1]}`
      : `M${a[0]},${a[1]} C${(a[0] + b[0]) / 2},${a[1]} ${(a[0] + b[0]) / 2},${b[1]} ${b[0]},${b[1]}`;
    const edges = [
      curve(R(N.listing), L(N.manifest)), curve(R(N.manifest), L(N.vcf)), curve(R(N.vcf), L(N.parquet)),
      curve(R(N.parquet), L(N.hub1)), curve(R(N.curation), L(N.sqlite)),
      curve(B(N.sqlite), L(N.hits), true), curve(R(N.hits), [N.tables.x, N.tables.y + 80]),
      curve(B(N.parquet, 0.1), T(N.hits, 0.9), true),
      curve(B(N.parquet, 0.3), T(N.inputs, 0.7), true), curve(R(N.inputs), [N.tables.x, N.tables.y + 25]),
      curve(B(N.parquet, 0.7), T(N.tables, 0.7), true), curve(R(N.tables), L(N.hub2)),
    ];
    for (const p of edges) svg.append(sv('path', {class: 'edge', d: p}));
    for (const [key, n] of Object.entries(N)) svg.append(node(key, n));
    const box = $('#graph');
    box.replaceChildren(svg);
    $('#legend').replaceChildren(...STATES.map((s) => el('span', {}, el('i', {class: stcls(s)}), s)));
  }

  function uploadSub(u) {
    if (!u) return 'no upload recorded';
    return `${(u.time || '').replace('T', ' ').replace('Z', '')} ${u.outcome}`;
  }

  function node(key, n) {
    const rows = n.rows || [];
    const state = n.ext ? (n.upload ? (n.upload.outcome === 'ok' ? 'up to date' : 'failed') : 'ext') : worst(rows);
    const g = sv('g', {class: 'node' + (n.ext ? ' ext' : '') + (selected && selected.kind === 'node' && selected.id === key ? ' selected' : ''),
      'data-node': key, 'data-state': n.ext ? null : state,
      onclick: () => select({kind: 'node', id: key})});
    g.append(sv('rect', {class: 'box', x: n.x, y: n.y, width: n.w, height: n.h}));
    g.append(sv('rect', {class: 'bar ' + stcls(state), x: n.x, y: n.y, width: 6, height: n.h}));
    g.append(sv('text', {x: n.x + 14, y: n.y + 18}, n.title));
    let sub = n.sub;
    if (!n.ext && rows.length && !n.cells) sub = rows[0].state + (rows[0].reason ? ': ' + rows[0].reason : '');
    g.append(sv('text', {class: 'sub', x: n.x + 14, y: n.y + 34}, clip(sub, n.w / 6)));
    if (n.cells) {
      g.append(sv('text', {class: 'sub', x: n.x + 14, y: n.y + 48}, clip(rows.length ? counts(rows) : 'none yet', n.w / 5.6)));
      const inner = n.w - 24, gap = 2;
      const cw = rows.length ? Math.min(40, (inner - gap * (rows.length - 1)) / rows.length) : 0;
      rows.forEach((r, i) => {
        const x = n.x + 14 + i * (cw + gap), y = n.y + 58;
        const cell = sv('rect', {class: 'cell ' + stcls(r.state) + (selected && selected.kind === 'row' && selected.id === r.id ? ' selected' : ''),
          x, y, width: Math.max(cw, 1), height: 22, rx: 2, 'data-id': r.id, 'data-state': r.state,
          onclick: (ev) => { ev.stopPropagation(); select({kind: 'row', id: r.id}); }},
        sv('title', {}, `${r.partition || base(r.path)}: ${r.state}${r.reason ? ' (' + r.reason + ')' : ''}` +
          (r.progress && r.progress.percent !== null && r.progress.percent !== undefined ? ` ${r.progress.percent}%` : '')));
        g.append(cell);
        if (cw >= 18) {
          const lab = (r.partition || base(r.path)).replace(/^chr/, '').replace(/\.parquet$|\.tsv$/, '');
          g.append(sv('text', {class: 'lab', x: x + cw / 2, y: y + 34}, clip(lab, cw / 5.5)));
        }
      });
    }
    return g;
  }
  const clip = (s, n) => { s = String(s || ''); n = Math.max(3, Math.floor(n)); return s.length > n ? s.slice(0, n - 1) + '…' : s; };

  function drawRows() {
    const head = el('tr', {}, ['target', 'state', 'note', 'size', 'rows', 'built', 'seconds', 'peak RSS']
      .map((h, i) => el('th', {class: i >= 3 && i !== 5 ? 'num' : null}, h)));
    const body = doc.rows.map((r) => el('tr', {class: 'clickable', 'data-row': r.id, onclick: () => select({kind: 'row', id: r.id})},
      el('td', {}, el('code', {}, r.id)),
      el('td', {}, el('span', {class: 'badge ' + stcls(r.state)}, r.state)),
      el('td', {class: r.error ? 'error' : null}, note(r)),
      el('td', {class: 'num'}, human(r.size)), el('td', {class: 'num'}, num(r.rows)),
      el('td', {}, (r.built || '').replace('T', ' ').replace('Z', '')),
      el('td', {class: 'num'}, secs(r.seconds)), el('td', {class: 'num'}, human(r.peak_rss_bytes))));
    $('#rows').replaceChildren(el('table', {}, el('thead', {}, head), el('tbody', {}, body)));
  }
  function note(r) {
    const out = [];
    if (r.reason) out.push(r.reason);
    if (r.progress) out.push(human(r.progress.bytes) + (r.progress.total ? ` of ${human(r.progress.total)} (${r.progress.percent}%)` : ''));
    if (r.error) out.push(r.error);
    if (r.leftovers && r.leftovers.length) out.push(`${r.leftovers.length} temporary file(s) of a dead process, removed by its next run`);
    if (r.checksum_verified === true) out.push(r.stage === 'vcf' ? 'checksum OK' : 'from a VCF matching CHECKSUMS');
    return out.join('; ');
  }

  function drawResources() {
    const res = doc.resources || [];
    if (!res.length) { $('#resources').replaceChildren(el('p', {class: 'hint'}, 'no step recorded yet')); return; }
    const head = el('tr', {}, ['step', 'target', 'seconds', 'peak RSS', 'rows', 'rows/s'].map((h, i) => el('th', {class: i >= 2 ? 'num' : null}, h)));
    const body = res.map((x) => el('tr', {}, el('td', {}, x.step), el('td', {}, el('code', {}, base(x.target))),
      el('td', {class: 'num'}, secs(x.seconds)), el('td', {class: 'num'}, human(x.peak_rss_bytes)),
      el('td', {class: 'num'}, num(x.rows)), el('td', {class: 'num'}, num(x.rows_per_s))));
    $('#resources').replaceChildren(el('table', {}, el('thead', {}, head), el('tbody', {}, body)));
  }

  function drawUploads() {
    const ups = doc.uploads || [];
    if (!ups.length) { $('#uploads').replaceChildren(el('p', {class: 'hint'}, 'no upload recorded (just upload)')); return; }
    $('#uploads').replaceChildren(...ups.map((u) => el('div', {class: 'upload'},
      el('p', {}, el('b', {}, u.repo), ` (${u.kind}) ${u.time || ''} `,
        el('span', {class: 'badge ' + stcls(u.outcome === 'ok' ? 'up to date' : 'failed')}, u.outcome || '?'),
        u.commit ? [' commit ', el('code', {}, u.commit.slice(0, 10)), u.commit_url ? [' ', el('code', {}, u.commit_url)] : null]
          : (u.outcome === 'ok' ? ' no commit (nothing changed)' : null),
        !u.commit && u.last_commit ? [' · last commit ', el('code', {}, String(u.last_commit.commit || '').slice(0, 10)),
          ` ${u.last_commit.time || ''}`] : null,
        ` · ${(u.uploaded || []).length} uploaded, ${(u.skipped || []).length} skipped, ${human(u.bytes_sent || 0)} sent`),
      u.error ? el('p', {class: 'error'}, u.error) : null,
      el('details', {}, el('summary', {}, 'files'), el('table', {}, el('tbody', {},
        (u.uploaded || []).map((f) => el('tr', {}, el('td', {}, 'uploaded'), el('td', {}, el('code', {}, f.path)), el('td', {class: 'num'}, human(f.bytes)), el('td', {}, f.reason || ''))),
        (u.skipped || []).map((f) => el('tr', {}, el('td', {}, 'skipped'), el('td', {}, el('code', {}, f.path)), el('td', {}), el('td', {}, f.reason || '')))))))));
  }

  // ---------------------------------------------------------------- details
  function select(s) { selected = s; drawGraph(); drawDetails(); }

  function drawDetails() {
    const box = $('#details-body');
    if (!selected || !doc) return;
    if (selected.kind === 'row') {
      const r = doc.rows.find((x) => x.id === selected.id);
      if (!r) { box.replaceChildren(el('p', {class: 'hint'}, selected.id + ': not in this status')); return; }
      box.replaceChildren(rowDetails(r));
    } else {
      const map = {manifest: 'manifest', vcf: 'vcf', parquet: 'parquet', sqlite: 'lm-source', hits: 'lm-hits', inputs: 'lm-inputs', tables: 'lm-table'};
      const stage = map[selected.id];
      if (!stage) { box.replaceChildren(externalDetails(selected.id)); return; }
      const rows = rowsOf(stage);
      if (rows.length === 1) { box.replaceChildren(rowDetails(rows[0])); return; }
      box.replaceChildren(el('h3', {}, `${stage}: ${rows.length} targets`), el('p', {}, counts(rows) || 'none yet'),
        el('table', {}, el('tbody', {}, rows.map((r) => el('tr', {class: 'clickable', onclick: () => select({kind: 'row', id: r.id})},
          el('td', {}, el('code', {}, r.id)), el('td', {}, el('span', {class: 'badge ' + stcls(r.state)}, r.state)), el('td', {}, note(r)))))));
    }
  }

  function externalDetails(key) {
    const d = doc.discovery || {};
    if (key === 'listing') {
      return el('div', {}, el('h3', {}, 'Ensembl listing'), el('dl', {}, dl([['listing used', d.base_url], ['release', d.release],
        ['discovered', d.discovered], ['files', d.files], ['BASE_URL now', d.config_base_url],
        ['listing changed', d.listing_changed ? 'yes: discovery would run again' : 'no']])));
    }
    if (key === 'curation') return el('div', {}, el('h3', {}, 'LongevityMap curation'), el('p', {}, 'fetched once into longevitymap.sqlite (FORCE=1 fetches it again)'));
    const u = (doc.uploads || []).find((x) => x.kind === (key === 'hub1' ? 'ensembl' : 'longevitymap'));
    if (!u) return el('p', {class: 'hint'}, 'no upload recorded for this repo');
    return el('div', {}, el('h3', {}, u.repo), el('dl', {}, dl([['time', u.time], ['outcome', u.outcome], ['commit', u.commit],
      ['commit URL', u.commit_url], ['uploaded', (u.uploaded || []).length], ['skipped', (u.skipped || []).length],
      ['bytes sent', human(u.bytes_sent || 0)], ['error', u.error]])));
  }

  function dl(pairs) {
    return pairs.filter(([, v]) => v !== null && v !== undefined && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]);
  }

  function rowDetails(r) {
    const prog = r.progress ? human(r.progress.bytes) + (r.progress.total ? ` of ${human(r.progress.total)} (${r.progress.percent}%)` : '') : null;
    const parts = [el('h3', {}, el('code', {}, r.id)),
      el('dl', {}, dl([['state', r.state], ['reason', r.reason], ['error', r.error], ['progress', prog], ['size', human(r.size)],
        ['rows', num(r.rows)], ['built', r.built], ['seconds', secs(r.seconds)], ['peak RSS', human(r.peak_rss_bytes)],
        ['checksum verified', r.checksum_verified === null || r.checksum_verified === undefined ? null : String(r.checksum_verified)],
        ['release', r.release], ['Make target', r.target]]))];
    if (SERVER && (r.stage === 'vcf' || r.stage === 'parquet') && r.target) {
      parts.push(el('p', {}, el('button', {type: 'button', id: 'run-target', 'data-target': r.target, disabled: running || null,
        onclick: () => startRun({target: r.target})}, `make ${base(r.path)}`)));
    }
    const hist = r.history || [];
    parts.push(el('h4', {}, 'step log (last ' + hist.length + ')'));
    if (hist.length) {
      parts.push(el('table', {}, el('thead', {}, el('tr', {}, ['time', 'step', 'outcome', 'seconds', 'peak RSS', 'rows', 'message'].map((h) => el('th', {}, h)))),
        el('tbody', {}, hist.slice().reverse().map((h) => el('tr', {}, el('td', {}, h.time || ''), el('td', {}, h.step || ''),
          el('td', {class: h.outcome === 'ok' ? null : 'error'}, h.outcome || ''), el('td', {class: 'num'}, secs(h.seconds)),
          el('td', {class: 'num'}, human(h.peak_rss_bytes)), el('td', {class: 'num'}, num(h.rows)), el('td', {class: 'error'}, h.message || ''))))));
    } else parts.push(el('p', {class: 'hint'}, 'nothing recorded for this target'));
    return el('div', {'data-details': r.id}, parts);
  }

  // ---------------------------------------------------------------- runs (served page only)
  async function post(path, body) {
    const r = await fetch(path, {method: 'POST', cache: 'no-store', headers: {'Content-Type': 'application/json', 'X-UI-Token': CFG.token},
      body: JSON.stringify(body)});
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.error || `${r.status} ${r.statusText}`);
    return j;
  }

  async function startRun(what) {
    if (what.job && (CFG.confirm || []).includes(what.job)) {
      if (!window.confirm(`${what.job}: publish ${species} on the Hugging Face Hub for real?`)) return;
      what.confirm = true;
    }
    try { await post('/api/run', {species, ...what}); } catch (e) { $('#run-status').textContent = 'refused: ' + e.message; }
  }

  function setRunning(on, run) {
    running = on;
    for (const b of document.querySelectorAll('#jobs button, #run-target')) b.disabled = on;
    $('#stop').disabled = !on;
    const st = $('#run-status');
    if (on) { st.textContent = `running: ${run.label}`; st.dataset.state = 'running'; }
  }

  function connect() {
    const es = new EventSource('/api/events');
    const log = $('#log');
    const add = (line) => {
      const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(line + '\n');
      if (stick) log.scrollTop = log.scrollHeight;
    };
    es.addEventListener('run', (e) => {
      const run = JSON.parse(e.data);
      log.textContent = '';
      lastRunId = run.id;
      if (!run.done) setRunning(true, run);
    });
    es.addEventListener('log', (e) => add(JSON.parse(e.data)));
    es.addEventListener('end', (e) => {
      const run = JSON.parse(e.data);
      if (run.id !== lastRunId) return;
      setRunning(false, run);
      const st = $('#run-status');
      st.textContent = `${run.label}: exit status ${run.code}${run.stopped ? ' (stopped)' : ''} after ${run.seconds} s`;
      st.dataset.state = run.code === 0 ? 'ok' : 'failed';
      st.dataset.code = run.code;
      load();
    });
  }

  function setupRun() {
    const jobs = $('#jobs');
    for (const job of CFG.jobs || []) {
      const confirm = (CFG.confirm || []).includes(job);
      jobs.append(el('button', {type: 'button', class: confirm ? 'danger' : null, 'data-job': job,
        title: confirm ? 'publishes on the Hugging Face Hub (asks first)' : null, onclick: () => startRun({job})}, job));
    }
    $('#stop').addEventListener('click', async () => {
      try { await post('/api/stop', {}); } catch (e) { $('#run-status').textContent = 'stop refused: ' + e.message; }
    });
    connect();
    setInterval(() => { ticks++; if (running || ticks % 4 === 0) load(); }, 1000);
  }

  // ---------------------------------------------------------------- start
  const sel = $('#species');
  for (const s of CFG.species_list || [species]) sel.append(el('option', {value: s, selected: s === species || null}, s));
  sel.addEventListener('change', () => { species = sel.value; selected = null; $('#details-body').replaceChildren(); load(); });
  if (SERVER) setupRun(); else {
    document.body.classList.add('report');
    $('#footer').textContent = `report written ${CFG.generated} (make report); a live page with runs: just ui`;
  }
  document.body.dataset.mode = CFG.mode;
  load();
})();
