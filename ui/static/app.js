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
  let runsList = CFG.runs || [];
  let selected = null;           // {kind: 'row'|'node', id}
  let running = false;
  let lastRunId = null;          // the run the event stream told us about last
  let endedRunId = 0;            // the last run whose end we have seen
  let events = 0;                // events seen: a status reply asked for before the last event is stale
  let asked = 0, applied = 0;    // status requests sent / the newest one applied
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
  const slug = (s) => String(s).replace(/ /g, '-');
  const stcls = (s) => 'st-' + slug(s);
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
  const when = (t) => String(t || '').replace('T', ' ').replace('Z', '');
  function counts(rows) {
    const c = {};
    for (const r of rows) c[r.state] = (c[r.state] || 0) + 1;
    return STATES.filter((s) => c[s]).map((s) => c[s] + ' ' + s).join(', ');
  }
  // Enter or Space on a focusable element acts as a click
  const activate = (fn) => ({onclick: fn, onkeydown: (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); fn(ev); }
  }});

  // ---------------------------------------------------------------- data
  async function load() {
    if (!SERVER) { doc = CFG.data[species]; render(); drawRuns(); return; }
    const mine = ++asked, seen = events;
    try {
      const r = await fetch('/api/status?species=' + encodeURIComponent(species), {cache: 'no-store'});
      const j = await r.json();
      if (!r.ok) throw new Error(j.error || r.statusText);
      // A reply is applied only if no run event came after it was asked for, and no
      // newer reply was applied: a stale reply never overwrites what the events said.
      if (seen !== events || mine < applied || j.species !== species) { document.body.dataset.discarded = (Number(document.body.dataset.discarded || 0) + 1); return; }
      applied = mine;
      const key = JSON.stringify({...j, generated: null, ui_run: null});
      if (key !== lastKey) { lastKey = key; doc = j; render(); }
      const run = j.ui_run;
      if (run && !run.done && !running && run.id > endedRunId) setRunning(true, run);
    } catch (e) {
      $('#meta').textContent = 'cannot read status: ' + e.message;
    }
  }

  async function loadRuns() {
    if (!SERVER) return;
    try {
      const r = await fetch('/api/runs', {cache: 'no-store'});
      const j = await r.json();
      if (r.ok) { runsList = j.runs || []; drawRuns(); }
    } catch (e) { /* the next refresh tries again */ }
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

  function rowsOf(stages) { return doc.rows.filter((r) => stages.includes(r.stage)); }
  function uploadOf(kind) { return (doc.uploads || []).find((u) => u.kind === kind); }

  // ---------------------------------------------------------------- the graph
  // Text is measured with the page's own font, so labels are fitted, not guessed.
  const FONT = getComputedStyle(document.body).fontFamily;
  const measure = document.createElement('canvas').getContext('2d');
  function width(text, size, weight) { measure.font = `${weight || 400} ${size}px ${FONT}`; return measure.measureText(text).width; }
  // Fit ``text`` in ``w`` px: one line at 13, 12 or 11 px, else up to ``lines`` lines
  // broken at spaces, dots, dashes or underscores, else the last line cut with an ellipsis
  // (the full text is in the tooltip).
  function fit(text, w, {sizes = [13, 12, 11], lines = 2, weight = 400} = {}) {
    text = String(text || '');
    for (const size of sizes) if (width(text, size, weight) <= w) return {size, lines: [text]};
    const size = sizes[sizes.length - 1];
    const parts = text.match(/[^ ._-]+[ ._-]*|[ ._-]+/g) || [text];
    const out = [''];
    for (const p of parts) {
      const cur = out[out.length - 1];
      if (width(cur + p, size, weight) <= w || !cur) out[out.length - 1] = cur + p;
      else out.push(p);
    }
    const kept = out.slice(0, lines).map((s) => s.trimEnd());
    if (out.length > lines || kept.some((s) => width(s, size, weight) > w)) {
      let last = kept[kept.length - 1] + (out.length > lines ? ' ' + out.slice(lines).join('') : '');
      while (last.length > 1 && width(last + '…', size, weight) > w) last = last.slice(0, -1);
      kept[kept.length - 1] = last.trimEnd() + '…';
      for (let i = 0; i < kept.length - 1; i++) while (kept[i].length > 1 && width(kept[i], size, weight) > w) kept[i] = kept[i].slice(0, -1);
    }
    return {size, lines: kept};
  }

  const PAD = 10, GAP_X = 26, GAP_Y = 18, CELL = {w: 28, h: 22, gap: 3}, ROW_H = 21;

  function nodeState(n) {
    if (n.ext) { const u = n.upload && uploadOf(n.upload); return u ? u.state : 'ext'; }
    return worst(rowsOf(n.stages));
  }

  function nodeSub(n, rows) {
    if (n.upload) {
      const u = uploadOf(n.upload);
      if (!u) return n.sub;
      if (u.state === 'refused') return `refused: ${u.refused ? u.refused.message : ''}`;
      return `${u.outcome} ${when(u.time)}` + (u.refused ? ` · then refused: ${u.refused.message}` : '');
    }
    if (!n.ext && rows.length === 1 && !n.cells) return rows[0].state + (rows[0].reason ? ': ' + rows[0].reason : '');
    return n.sub;
  }

  const cellLabel = (r) => String(r.partition || base(r.path)).replace(/^chr/, '');
  // Cells whose partitions are <group>/<item> (a module's tables) are drawn as a matrix: per
  // group its name, then a short chip per item, at most MCELL.per a line (the full name in
  // the tooltip).
  const MCELL = {w: 35, name: 100, per: 4};
  const SHORT = {annotations: 'ann', studies: 'stu', weights: 'wts', sources: 'src', manifest: 'man',
    metadata: 'meta', unresolved: 'unres', conflicts: 'confl'};
  const itemLabel = (item) => { const stem = item.replace(/\.[a-z]+$/, ''); return SHORT[stem] || stem.slice(0, 4); };
  function matrixOf(labels) {
    if (!labels.length || !labels.every((s) => /^[^/]+\/[^/]+$/.test(s))) return null;
    const groups = [], pos = [];
    let widest = 0;
    for (const s of labels) {
      const [group] = s.split('/');
      if (!groups.includes(group)) groups.push(group);
      const gi = groups.indexOf(group);
      const ii = pos.filter(([g]) => g === gi).length;
      pos.push([gi, ii]);
      widest = Math.max(widest, ii + 1);
    }
    const per = Math.min(widest, MCELL.per), lines = Math.ceil(widest / per);
    // line of the group's first chips, and of each cell
    return {groups, per, lines, widest: per, at: pos.map(([gi, ii]) => [gi * lines + Math.floor(ii / per), ii % per])};
  }

  // Size a node: its lines of text, then its cells (a grid of short labels, or a list).
  function measureNode(n) {
    const rows = n.cells ? rowsOf(n.stages) : [];
    const labels = rows.map(cellLabel);
    const matrix = n.cells ? matrixOf(labels) : null;
    const grid = n.cells && !matrix && labels.every((s) => width(s, 11) <= CELL.w - 4);
    const w = matrix ? MCELL.name + matrix.widest * (MCELL.w + CELL.gap) + 2 * PAD + 6
      : n.cells ? (grid ? 4 * (CELL.w + CELL.gap) + 2 * PAD + 6 : 176) : 136;
    const inner = w - 2 * PAD - 6;
    const title = fit(n.title, inner, {weight: 600, sizes: [13.5, 12.5, 11.5]});
    const sub = fit(nodeSub(n, n.ext ? [] : rowsOf(n.stages)), inner, {sizes: [12, 11]});
    const summary = n.cells ? fit(rows.length ? counts(rows) : 'none yet', inner, {sizes: [12, 11]}) : null;
    let h = PAD + title.lines.length * 17 + sub.lines.length * 15 + (summary ? summary.lines.length * 15 : 0) + PAD;
    let cols = 0;
    if (n.cells && rows.length) {
      if (matrix) h += 4 + matrix.groups.length * matrix.lines * (CELL.h + CELL.gap);
      else if (grid) {
        cols = Math.max(1, Math.floor((inner + CELL.gap) / (CELL.w + CELL.gap)));
        h += 4 + Math.ceil(rows.length / cols) * (CELL.h + CELL.gap);
      } else h += 4 + rows.length * ROW_H;
    }
    return {...n, w, h: Math.max(h, 58), rows, grid, matrix, cols, titleFit: title, subText: sub, summary};
  }

  // Layers: the longest path from a source, sources pulled next to what they feed; then
  // the order within each layer by the barycentre of the neighbours (a few sweeps), so
  // that edges run left to right and do not cross where another order avoids it.
  function layout(graph) {
    const nodes = graph.nodes.map(measureNode);
    const by = Object.fromEntries(nodes.map((n) => [n.id, n]));
    const edges = graph.edges.filter(([a, b]) => by[a] && by[b]);
    const preds = (id) => edges.filter((e) => e[1] === id).map((e) => by[e[0]]);
    const succs = (id) => edges.filter((e) => e[0] === id).map((e) => by[e[1]]);
    const layerOf = {};
    const visit = (n) => layerOf[n.id] !== undefined ? layerOf[n.id]
      : (layerOf[n.id] = Math.max(-1, ...preds(n.id).map(visit)) + 1);
    nodes.forEach(visit);
    // then every node that feeds others as far right as they allow (sources and their
    // chains sit next to what they feed, so their edges stay short)
    const topo = nodes.slice().sort((a, b) => layerOf[b.id] - layerOf[a.id]);
    for (const n of topo) if (succs(n.id).length) layerOf[n.id] = Math.min(...succs(n.id).map((s) => layerOf[s.id])) - 1;
    const count = Math.max(...Object.values(layerOf)) + 1;
    const layers = Array.from({length: count}, () => []);
    nodes.forEach((n, i) => { n.order = i; layers[layerOf[n.id]].push(n); });
    const bary = (list) => list.length ? list.reduce((s, m) => s + m.order, 0) / list.length : null;
    for (let sweep = 0; sweep < 4; sweep++) {
      const down = sweep % 2 === 0;
      const seq = down ? layers : layers.slice().reverse();
      for (const layer of seq) {
        const keyed = layer.map((n) => [bary(down ? preds(n.id) : succs(n.id)) ?? n.order, n.order, n]);
        keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        layer.length = 0;
        keyed.forEach(([, , n], i) => { layer.push(n); n.order = i; });
      }
    }
    // x by layer; y: in order, each node near the mean of its neighbours, never overlapping
    let x = PAD;
    for (const layer of layers) {
      const w = Math.max(...layer.map((n) => n.w));
      for (const n of layer) n.x = x + (w - n.w) / 2;
      x += w + GAP_X;
    }
    const place = (layer, ref) => {
      let bottom = PAD - GAP_Y;
      for (const n of layer) {
        const near = ref(n);
        const want = near.length ? near.reduce((s, m) => s + m.y + m.h / 2, 0) / near.length - n.h / 2 : bottom + GAP_Y;
        n.y = Math.max(want, bottom + GAP_Y);
        bottom = n.y + n.h;
      }
    };
    for (const layer of layers) for (const n of layer) n.y = 0;
    layers.forEach((layer, i) => place(layer, (n) => (i ? preds(n.id).filter((p) => p.y !== undefined) : [])));
    for (let i = layers.length - 1; i >= 0; i--) {  // sources: beside what they feed
      if (layers[i].some((n) => !preds(n.id).length)) place(layers[i], (n) => (preds(n.id).length ? preds(n.id) : succs(n.id)));
    }
    const top = Math.min(...nodes.map((n) => n.y));
    for (const n of nodes) n.y += PAD - top;
    const W = x - GAP_X + PAD, H = Math.max(...nodes.map((n) => n.y + n.h)) + PAD;
    return {nodes, edges, by, W, H, succs, preds};
  }

  function drawGraph() {
    const graph = doc.graph || {nodes: [], edges: []};
    const g = layout(graph);
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('#graph [data-key]');
    const focusKey = focused ? focused.dataset.key : null;
    const svg = sv('svg', {width: g.W, height: g.H, viewBox: `0 0 ${g.W} ${g.H}`, role: 'group', 'aria-label': 'lineage graph: ' +
      'each box is a stage of the pipeline, each arrow goes from what a file is made from to the file'});
    svg.append(sv('defs', {}, sv('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8,
      markerHeight: 8, markerUnits: 'userSpaceOnUse', orient: 'auto'}, sv('path', {d: 'M0,0 L10,5 L0,10 z', fill: '#6b7686'}))));
    // ports: the edges of one side share it, in the order of the other end, away from the corners
    const port = (n, side, other) => {
      const list = (side === 'out' ? g.succs(n.id) : g.preds(n.id)).slice().sort((a, b) => (a.y + a.h / 2) - (b.y + b.h / 2));
      const i = list.indexOf(other), k = list.length;
      const span = Math.min(n.h * 0.5, 18 * (k - 1));
      return n.y + n.h / 2 - span / 2 + (k > 1 ? span * i / (k - 1) : 0);
    };
    for (const [a, b] of g.edges) {
      const s = g.by[a], t = g.by[b];
      const x1 = s.x + s.w, y1 = port(s, 'out', t), x2 = t.x - 1, y2 = port(t, 'in', s);
      const mx = (x1 + x2) / 2;
      svg.append(sv('path', {class: 'edge', 'data-edge': `${a}>${b}`, 'marker-end': 'url(#arrow)',
        d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`}));
    }
    for (const n of g.nodes) svg.append(drawNode(n));
    $('#graph').replaceChildren(svg);
    if (focusKey) { const back = $(`#graph [data-key="${CSS.escape(focusKey)}"]`); if (back) back.focus(); }
    drawLegend();
  }

  function textLines(fitted, x, y, cls, step) {
    return fitted.lines.map((line, i) => sv('text', {class: cls, x, y: y + i * step, 'font-size': fitted.size}, line));
  }

  function drawNode(n) {
    const state = nodeState(n);
    const sel = selected && selected.kind === 'node' && selected.id === n.id;
    const g = sv('g', {class: 'node' + (n.ext ? ' ext' : '') + (sel ? ' selected' : ''), 'data-node': n.id,
      'data-state': n.ext && !n.upload ? null : state});
    const full = `${n.title}: ${nodeSub(n, n.ext ? [] : rowsOf(n.stages))}` + (n.ext ? ' (outside this project)' : ` (${state})`);
    const hit = sv('g', {class: 'hit', tabindex: 0, role: 'button', 'data-key': 'node:' + n.id,
      ...activate(() => select({kind: 'node', id: n.id}))}, sv('title', {}, full));
    hit.append(sv('rect', {class: 'box', x: n.x, y: n.y, width: n.w, height: n.h, rx: 6}));
    hit.append(sv('rect', {class: 'bar ' + stcls(state), x: n.x, y: n.y, width: 6, height: n.h, rx: 3}));
    let y = n.y + PAD + 12;
    const tx = n.x + PAD + 6;
    hit.append(...textLines(n.titleFit, tx, y, 'title', 17));
    y += n.titleFit.lines.length * 17 - 2;
    hit.append(...textLines(n.subText, tx, y, 'sub', 15));
    y += n.subText.lines.length * 15;
    if (n.summary) { hit.append(...textLines(n.summary, tx, y, 'sub', 15)); y += n.summary.lines.length * 15; }
    g.append(hit);
    y -= 8;
    if (n.matrix) {
      n.matrix.groups.forEach((name, gi) => {
        const label = fit(name, MCELL.name - 8, {sizes: [11.5, 11, 10], lines: 1});
        g.append(sv('text', {class: 'sub', x: tx, y: y + gi * n.matrix.lines * (CELL.h + CELL.gap) + CELL.h / 2 + 4,
          'font-size': label.size}, sv('title', {}, name), label.lines[0]));
      });
    }
    n.rows.forEach((r, i) => g.append(drawCell(n, r, i, tx, y)));
    return g;
  }

  function drawCell(n, r, i, tx, y0) {
    const label = cellLabel(r);
    const tip = `${r.partition || base(r.path)}: ${r.state}${r.reason ? ' (' + r.reason + ')' : ''}` +
      (r.progress && r.progress.percent !== null && r.progress.percent !== undefined ? ` ${r.progress.percent}%` : '');
    const sel = selected && selected.kind === 'row' && selected.id === r.id;
    const attrs = {class: 'cell' + (sel ? ' selected' : ''), tabindex: 0, role: 'button',
      'data-id': r.id, 'data-state': r.state, 'data-key': 'row:' + r.id,
      ...activate((ev) => { ev.stopPropagation(); select({kind: 'row', id: r.id}); })};
    const inner = n.w - 2 * PAD - 6;
    if (n.matrix) {
      const [line, col] = n.matrix.at[i];
      const x = tx + MCELL.name + col * (MCELL.w + CELL.gap), y = y0 + line * (CELL.h + CELL.gap);
      const text = fit(itemLabel(label.split('/')[1]), MCELL.w - 4, {sizes: [11, 10, 9], lines: 1});
      return sv('g', attrs, sv('title', {}, tip), sv('rect', {class: stcls(r.state), x, y, width: MCELL.w, height: CELL.h, rx: 3}),
        sv('text', {class: 'ink-' + slug(r.state), x: x + MCELL.w / 2, y: y + CELL.h / 2 + 4, 'text-anchor': 'middle',
          'font-size': text.size}, text.lines[0]));
    }
    if (n.grid) {
      const x = tx + (i % n.cols) * (CELL.w + CELL.gap), y = y0 + Math.floor(i / n.cols) * (CELL.h + CELL.gap);
      return sv('g', attrs, sv('title', {}, tip), sv('rect', {class: stcls(r.state), x, y, width: CELL.w, height: CELL.h, rx: 3}),
        sv('text', {class: 'ink-' + slug(r.state), x: x + CELL.w / 2, y: y + CELL.h / 2 + 4, 'text-anchor': 'middle'}, label));
    }
    const y = y0 + i * ROW_H;
    const text = fit(`${label.replace(/\.parquet$/, '')} · ${r.state}`, inner - 8, {sizes: [11.5, 11], lines: 1});
    return sv('g', attrs, sv('title', {}, tip), sv('rect', {class: stcls(r.state), x: tx, y, width: inner, height: ROW_H - 3, rx: 3}),
      sv('text', {class: 'ink-' + slug(r.state), x: tx + 6, y: y + ROW_H / 2 + 2, 'font-size': text.size}, text.lines[0]));
  }

  function drawLegend() {
    const items = STATES.map((s) => el('li', {}, el('i', {class: stcls(s)}), s));
    items.push(el('li', {}, el('i', {class: 'dashed'}), 'outside source or destination (dashed); refused or stopped'));
    items.push(el('li', {}, el('i', {class: 'arrow'}), 'made from'));
    items.push(el('li', {}, 'a box: a stage, coloured by its worst target; a cell: one file (Enter or click for details)'));
    $('#legend').replaceChildren(...items);
  }

  // ---------------------------------------------------------------- tables
  function drawRows() {
    const head = el('tr', {}, [['target'], ['state'], ['note'], ['size', 'num'], ['rows', 'num opt'], ['built', 'opt'],
      ['seconds', 'num opt'], ['peak RSS', 'num opt']].map(([h, c]) => el('th', {class: c || null, scope: 'col'}, h)));
    const body = doc.rows.map((r) => el('tr', {'data-row': r.id, class: selected && selected.kind === 'row' && selected.id === r.id ? 'selected' : null},
      el('td', {}, el('button', {type: 'button', class: 'link', onclick: () => select({kind: 'row', id: r.id})}, el('code', {}, r.id))),
      el('td', {}, el('span', {class: 'badge ' + stcls(r.state)}, r.state)),
      el('td', {class: r.error ? 'error' : null}, note(r)),
      el('td', {class: 'num'}, human(r.size)), el('td', {class: 'num opt'}, num(r.rows)),
      el('td', {class: 'opt'}, when(r.built)),
      el('td', {class: 'num opt'}, secs(r.seconds)), el('td', {class: 'num opt'}, human(r.peak_rss_bytes))));
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
    const head = el('tr', {}, ['step', 'target', 'seconds', 'peak RSS', 'rows', 'rows/s'].map((h, i) => el('th', {class: i >= 2 ? 'num' : null, scope: 'col'}, h)));
    const body = res.map((x) => el('tr', {}, el('td', {}, x.step), el('td', {}, el('code', {}, base(x.target))),
      el('td', {class: 'num'}, secs(x.seconds)), el('td', {class: 'num'}, human(x.peak_rss_bytes)),
      el('td', {class: 'num'}, num(x.rows)), el('td', {class: 'num'}, num(x.rows_per_s))));
    $('#resources').replaceChildren(el('table', {}, el('thead', {}, head), el('tbody', {}, body)));
  }

  function drawUploads() {
    const ups = doc.uploads || [];
    if (!ups.length) { $('#uploads').replaceChildren(el('p', {class: 'hint'}, 'no upload recorded (just upload)')); return; }
    $('#uploads').replaceChildren(...ups.map((u) => el('div', {class: 'upload'},
      el('p', {}, el('b', {}, u.repo), ` (${u.kind}) ${when(u.time)} `,
        el('span', {class: 'badge ' + stcls(u.state)}, u.state === 'refused' ? 'refused' : (u.outcome || '?')),
        u.commit ? [' commit ', el('code', {}, u.commit.slice(0, 10))]
          : (u.outcome === 'ok' ? ' no commit (nothing changed)' : null),
        !u.commit && u.last_commit ? [' · last commit ', el('code', {}, String(u.last_commit.commit || '').slice(0, 10)),
          ` ${when(u.last_commit.time)}`] : null,
        u.state === 'refused' ? '' : ` · ${(u.uploaded || []).length} uploaded, ${(u.skipped || []).length} skipped` +
          ((u.deleted || []).length ? `, ${u.deleted.length} deleted` : '') + `, ${human(u.bytes_sent || 0)} sent`),
      u.refused ? el('p', {}, `refused ${when(u.refused.time)}, nothing sent: ${u.refused.message}`) : null,
      u.error && u.state === 'failed' ? el('p', {class: 'error'}, u.error) : null,
      (u.uploaded || []).length + (u.skipped || []).length + (u.deleted || []).length ? el('details', {}, el('summary', {}, 'files'), el('div', {class: 'scroll', tabindex: 0, role: 'region', 'aria-label': 'files of ' + u.repo}, el('table', {}, el('tbody', {},
        (u.uploaded || []).map((f) => el('tr', {}, el('td', {}, 'uploaded'), el('td', {}, el('code', {}, f.path)), el('td', {class: 'num'}, human(f.bytes)), el('td', {}, f.reason || ''))),
        (u.deleted || []).map((path) => el('tr', {}, el('td', {}, 'deleted'), el('td', {}, el('code', {}, path)), el('td', {}), el('td', {}, 'stale on the Hub'))),
        (u.skipped || []).map((f) => el('tr', {}, el('td', {}, 'skipped'), el('td', {}, el('code', {}, f.path)), el('td', {}), el('td', {}, f.reason || ''))))))) : null)));
  }

  function duration(s) {
    if (s === null || s === undefined) return '';
    s = Number(s);
    return s < 60 ? s.toFixed(1) + ' s' : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  }

  function drawRuns() {
    const box = $('#runs');
    if (!runsList.length) { box.replaceChildren(el('p', {class: 'hint'}, 'no run recorded yet')); return; }
    const head = el('tr', {}, [['run'], ['start'], ['duration', 'num'], ['result'], ['log']].map(([h, c]) => el('th', {class: c || null, scope: 'col'}, h)));
    const body = runsList.map((r) => el('tr', {'data-run': r.id, 'data-result': r.result},
      el('td', {}, el('span', {title: r.id}, r.label), r.where && r.where.length ? el('div', {class: 'hint'}, r.where.join(', ')) : null),
      el('td', {class: 'nowrap', title: r.start}, when(r.start).slice(5)), el('td', {class: 'num'}, duration(r.seconds)),
      el('td', {}, el('span', {class: 'badge ' + stcls(r.result)}, r.result)),
      el('td', {}, SERVER ? el('a', {href: '/runs/' + encodeURIComponent(r.id) + '/log', target: '_blank', rel: 'noopener',
        'aria-label': `log of ${r.label} at ${when(r.start)}`}, 'log') : el('span', {class: 'hint'}, 'just runs --log'))));
    box.replaceChildren(el('table', {}, el('thead', {}, head), el('tbody', {}, body)));
  }

  // ---------------------------------------------------------------- details
  function select(s) {
    selected = s;
    for (const e of document.querySelectorAll('#graph .selected, #rows tr.selected')) e.classList.remove('selected');
    const key = s.kind === 'row' ? `#graph [data-id="${CSS.escape(s.id)}"]` : `#graph [data-node="${CSS.escape(s.id)}"]`;
    const hit = $(key);
    if (hit) hit.classList.add('selected');
    if (s.kind === 'row') { const tr = $(`#rows tr[data-row="${CSS.escape(s.id)}"]`); if (tr) tr.classList.add('selected'); }
    drawDetails();
  }

  const HINT = 'Click a box or a cell of the graph (or Tab to it and press Enter), or a target below, for its state, ' +
    'sizes, step-log history and error.';

  function drawDetails() {
    const box = $('#details-body');
    if (!selected || !doc) { box.replaceChildren(el('p', {class: 'hint'}, HINT)); return; }
    if (selected.kind === 'row') {
      const r = doc.rows.find((x) => x.id === selected.id);
      if (!r) { box.replaceChildren(el('p', {class: 'hint'}, `${selected.id} is not a target of ${species}. ${HINT}`)); return; }
      box.replaceChildren(rowDetails(r));
      return;
    }
    const n = ((doc.graph || {}).nodes || []).find((x) => x.id === selected.id);
    if (!n) { box.replaceChildren(el('p', {class: 'hint'}, HINT)); return; }
    if (n.ext) { box.replaceChildren(externalDetails(n)); return; }
    const rows = rowsOf(n.stages);
    if (rows.length === 1) { box.replaceChildren(rowDetails(rows[0])); return; }
    box.replaceChildren(el('h3', {}, `${n.title}: ${rows.length} targets`), el('p', {}, counts(rows) || 'none yet'),
      el('table', {}, el('tbody', {}, rows.map((r) => el('tr', {},
        el('td', {}, el('button', {type: 'button', class: 'link', onclick: () => select({kind: 'row', id: r.id})}, el('code', {}, r.id))),
        el('td', {}, el('span', {class: 'badge ' + stcls(r.state)}, r.state)), el('td', {}, note(r)))))));
  }

  function externalDetails(n) {
    const d = doc.discovery || {};
    if (n.id === 'listing') {
      return el('div', {}, el('h3', {}, n.title), el('dl', {}, dl([['listing used', d.base_url], ['release', d.release],
        ['discovered', d.discovered], ['files', d.files], ['BASE_URL now', d.config_base_url],
        ['listing changed', d.listing_changed ? 'yes: discovery would run again' : 'no']])));
    }
    const u = n.upload && uploadOf(n.upload);
    if (!u) return el('div', {}, el('h3', {}, n.title), el('p', {}, n.detail || ''), n.upload ? el('p', {class: 'hint'}, 'no upload recorded for this repo') : null);
    return el('div', {}, el('h3', {}, u.repo), el('dl', {}, dl([['state', u.state], ['time', u.time], ['outcome', u.outcome],
      ['commit', u.commit], ['commit URL', u.commit_url], ['uploaded', (u.uploaded || []).length], ['skipped', (u.skipped || []).length], ['deleted', (u.deleted || []).length || null],
      ['bytes sent', human(u.bytes_sent || 0)], ['error', u.state === 'failed' ? u.error : null],
      ['refused', u.refused ? `${when(u.refused.time)}: ${u.refused.message} (nothing was sent)` : null]])));
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
      parts.push(el('div', {class: 'scroll', tabindex: 0, role: 'region', 'aria-label': 'step log of ' + r.id}, el('table', {}, el('thead', {}, el('tr', {}, ['time', 'step', 'outcome', 'seconds', 'peak RSS', 'rows', 'message'].map((h) => el('th', {scope: 'col'}, h)))),
        el('tbody', {}, hist.slice().reverse().map((h) => el('tr', {}, el('td', {}, when(h.time)), el('td', {}, h.step || ''),
          el('td', {class: h.outcome === 'ok' || h.outcome === 'interrupted' ? null : 'error'}, h.outcome === 'interrupted' ? 'stopped' : (h.outcome || '')),
          el('td', {class: 'num'}, secs(h.seconds)), el('td', {class: 'num'}, human(h.peak_rss_bytes)), el('td', {class: 'num'}, num(h.rows)),
          el('td', {class: h.outcome === 'failed' ? 'error' : null}, h.message || '')))))));
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
    try { await post('/api/run', {species, ...what}); } catch (e) { status('refused', 'refused: ' + e.message); }
  }

  function status(state, text) {
    const st = $('#run-status');
    st.textContent = text;
    st.dataset.state = state;
  }

  function setRunning(on, run) {
    running = on;
    for (const b of document.querySelectorAll('#jobs button, #run-target')) b.disabled = on;
    $('#stop').disabled = !on;
    if (on) { status('running', `running: ${run.label}`); $('#log').hidden = false; }
  }

  function connect() {
    const es = new EventSource('/api/events');
    const log = $('#log');
    const add = (line) => {
      const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(line + '\n');
      log.hidden = false;
      if (stick) log.scrollTop = log.scrollHeight;
    };
    es.addEventListener('run', (e) => {
      events++;
      const run = JSON.parse(e.data);
      log.textContent = '';
      lastRunId = run.id;
      if (!run.done) setRunning(true, run);
    });
    es.addEventListener('log', (e) => { events++; add(JSON.parse(e.data)); });
    es.addEventListener('end', (e) => {
      events++;
      const run = JSON.parse(e.data);
      if (run.id !== lastRunId) return;
      endedRunId = Math.max(endedRunId, run.id);
      setRunning(false, run);
      const st = $('#run-status');
      if (run.stopped) status('stopped', `${run.label}: stopped after ${run.seconds} s`);
      else status(run.code === 0 ? 'ok' : 'failed', `${run.label}: ${run.code === 0 ? 'done' : 'failed, exit status ' + run.code} after ${run.seconds} s`);
      st.dataset.code = run.code;
      load();
      loadRuns().then(() => {  // the step log knows a refusal (no token...): nothing was attempted
        const known = runsList.find((r) => r.id === run.run_id);
        if (known && known.result === 'refused' && !run.stopped) status('refused', `${run.label}: refused, nothing was attempted (see the log)`);
      });
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
      try { await post('/api/stop', {}); } catch (e) { status('refused', 'stop refused: ' + e.message); }
    });
    connect();
    setInterval(() => { ticks++; if (running || ticks % 4 === 0) load(); if (ticks % 10 === 0) loadRuns(); }, 1000);
    loadRuns();
  }

  // ---------------------------------------------------------------- start
  const sel = $('#species');
  for (const s of CFG.species_list || [species]) sel.append(el('option', {value: s, selected: s === species || null}, s));
  sel.addEventListener('change', () => { species = sel.value; selected = null; lastKey = null; drawDetails(); load(); });
  if (SERVER) setupRun(); else {
    document.body.classList.add('report');
    $('#footer').textContent = `report written ${CFG.generated} (make report); a live page with runs: ./just ui`;
  }
  document.body.dataset.mode = CFG.mode;
  drawDetails();
  load();
})();
