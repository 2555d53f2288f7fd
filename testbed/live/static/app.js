// The live view: a map (cytoscape.js), plots (uPlot), a timeline and actions, fed by one
// server-sent-events stream (live) or by frames of a finished run (replay). No inline script (CSP).
(function () {
  'use strict';
  const token = document.querySelector('meta[name="tb-token"]').content;
  const mode = document.querySelector('meta[name="tb-mode"]').content;
  const withToken = (p) => p + (p.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
  const $ = (id) => document.getElementById(id);

  // everything the page shows, kept as data (tests and the bench read it through window.tbLive)
  const S = {
    mode, t: 0, status: '', name: '', duration: 0, readOnly: true, nodes: {}, links: {}, events: [],
    seen: new Set(), upcoming: [], verdicts: [], flows: {}, selected: null, linkHist: [], plots: {}, cy: null,
    updates: 0, updateMs: [], paintMs: [], lastBatchT: -1, mapBuilt: false, endS: 0,
  };
  window.tbLive = S;

  const KIND_COLOUR = { router: '#1e88e5', host: '#43a047', switch: '#78909c', external: '#8e24aa' };
  const fmtRate = (b) => b == null ? '–' : b >= 1e9 ? (b / 1e9).toFixed(2) + ' Gbit/s' : b >= 1e6 ?
    (b / 1e6).toFixed(2) + ' Mbit/s' : b >= 1e3 ? (b / 1e3).toFixed(1) + ' kbit/s' : b.toFixed(0) + ' bit/s';
  const fmtDur = (s) => s == null ? '–' : s >= 1 ? s.toFixed(2) + ' s' : (s * 1e3).toFixed(1) + ' ms';
  const fmtPct = (f) => f == null ? '–' : (f * 100).toFixed(f < 0.01 && f > 0 ? 2 : 1) + ' %';
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

  // one direction cut (its loss at 100 %, carrier kept): 'ab' or 'ba'; both cut counts as a blackhole
  function oneWay(l) { const ab = !!l.dirs.ab.cut, ba = !!l.dirs.ba.cut; return ab === ba ? '' : ab ? 'ab' : 'ba'; }
  function linkState(l) {
    return !l.up ? 'down' : l.blackhole || (l.dirs.ab.cut && l.dirs.ba.cut) ? 'blackhole' : oneWay(l) ? 'oneway' : 'up';
  }
  function util(l) { return Math.max(l.dirs.ab.util || 0, l.dirs.ba.util || 0); }
  function drops(l) { return (l.dirs.ab.drops || 0) + (l.dirs.ba.drops || 0); }
  function colour(u) { return u < 0.02 ? '#90a4ae' : u < 0.5 ? '#43a047' : u < 0.85 ? '#fb8c00' : '#e53935'; }

  // ---- map

  function buildMap(snap) {
    const xs = snap.nodes.map((n) => n.x), ys = snap.nodes.map((n) => n.y);
    const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
    const span = Math.max(maxX - minX, maxY - minY, 1e-9);
    const k = 1000 / span;
    const els = [];
    for (const n of snap.nodes) {
      els.push({ group: 'nodes', data: { id: 'N:' + n.id, name: n.id, label: n.id, colour: KIND_COLOUR[n.kind] || '#555', kind: n.kind, off: n.off },
                 position: { x: (n.x - minX) * k, y: (maxY - n.y) * k } });
    }
    for (const l of snap.links) {
      els.push({ group: 'edges', data: { id: 'L:' + l.id, name: l.id, source: 'N:' + l.a, target: 'N:' + l.b,
                 state: linkState(l), cutdir: oneWay(l), util: util(l), drops: drops(l), colour: colour(util(l)), width: 2 } });
    }
    const many = snap.nodes.length > 150;
    S.cy = cytoscape({
      container: $('map'), elements: els, layout: { name: 'preset' },
      textureOnViewport: many, hideEdgesOnViewport: many, pixelRatio: many ? 1 : 'auto',
      style: [
        { selector: 'node', style: { 'background-color': 'data(colour)', label: many ? '' : 'data(label)', 'font-size': 10,
          width: 14, height: 14, 'text-valign': 'bottom', 'text-margin-y': 2, color: '#333' } },
        { selector: 'node[kind = "router"]', style: { shape: 'round-rectangle' } },
        { selector: 'node[kind = "switch"]', style: { shape: 'diamond' } },
        { selector: 'node[?off]', style: { 'background-color': '#cfd8dc', opacity: 0.45, 'border-width': 1, 'border-color': '#90a4ae' } },
        // haystack edges are cytoscape's cheapest to draw: a large map stays under 100 ms a redraw
        { selector: 'edge', style: { 'line-color': 'data(colour)', width: 'data(width)', 'curve-style': many ? 'haystack' : 'straight' } },
        { selector: 'edge[drops > 0]', style: { 'underlay-color': '#e53935', 'underlay-opacity': 0.35, 'underlay-padding': 4 } },
        { selector: 'edge[state = "down"]', style: { 'line-color': '#b71c1c', 'line-style': 'dashed', width: 3, opacity: 0.8 } },
        { selector: 'edge[state = "blackhole"]', style: { 'line-color': '#000', 'line-style': 'dotted', width: 3 } },
        // a one-way cut: dashed purple, a bar at the end the cut direction no longer reaches
        { selector: 'edge[state = "oneway"]', style: { 'line-color': '#8e24aa', 'line-style': 'dashed', width: 3 } },
        { selector: 'edge[cutdir = "ab"]', style: { 'target-arrow-shape': 'tee', 'target-arrow-color': '#8e24aa', 'arrow-scale': 1.4 } },
        { selector: 'edge[cutdir = "ba"]', style: { 'source-arrow-shape': 'tee', 'source-arrow-color': '#8e24aa', 'arrow-scale': 1.4 } },
        // the path the chosen flow's packets take now
        { selector: 'edge.path', style: { 'underlay-color': '#ffb300', 'underlay-opacity': 0.6, 'underlay-padding': 6 } },
        { selector: 'node.path', style: { 'border-width': 3, 'border-color': '#ffb300' } },
        { selector: ':selected', style: { 'overlay-color': '#1565c0', 'overlay-opacity': 0.25, 'overlay-padding': 5 } },
      ],
    });
    S.cy.on('tap', 'edge', (e) => { hideTip(); select('link', e.target.data('name')); });
    S.cy.on('tap', 'node', (e) => select('node', e.target.data('name')));
    S.cy.on('mouseover', 'edge', (e) => showTip(e));
    S.cy.on('mouseout', 'edge', hideTip);
    S.mapBuilt = true;
  }

  function setLink(l) {
    S.links[l.id] = l;
    if (!S.cy) return;
    const e = S.cy.getElementById('L:' + l.id);
    const u = util(l);
    e.data({ state: linkState(l), cutdir: oneWay(l), util: u, drops: drops(l), colour: colour(u), width: 2 + 6 * Math.min(u, 1) });
  }

  function setNode(n) {
    S.nodes[n.id] = n;
    if (S.cy) S.cy.getElementById('N:' + n.id).data('off', !!n.off);
  }

  function dirRows(l) {
    const row = (d, label) => {
      const x = l.dirs[d], nom = x.nominal;
      return `<tr><th>${esc(label)}</th><td>${fmtRate(x.rate_bps)}${x.rate_bps !== nom.rate_bps ? ' (nominal ' + fmtRate(nom.rate_bps) + ')' : ''}</td>` +
        `<td>${fmtDur(nom.delay_s)}${nom.jitter_s ? ' ± ' + fmtDur(nom.jitter_s) : ''}</td><td>${x.cut ? '<b>cut (100 % loss)</b>' : 'loss ' + (nom.bursty_loss ? 'bursty' : fmtPct(x.loss_prob != null ? x.loss_prob : nom.loss_prob))}</td>` +
        `<td>now ${fmtRate(x.bps)} (${fmtPct(x.util)})</td><td>drops ${x.drops}/s</td><td>queue ${x.queue}</td></tr>`;
    };
    return `<table>${row('ab', l.a + ' → ' + l.b)}${row('ba', l.b + ' → ' + l.a)}</table>`;
  }

  function linkText(l) {
    const st = linkState(l);
    const way = oneWay(l) === 'ab' ? l.a + ' → ' + l.b : l.b + ' → ' + l.a;
    return `<div><b>${esc(l.id)}</b>: ${st === 'down' ? '<b>cut (no carrier)</b>' : st === 'blackhole' ? '<b>blackholed</b>' :
      st === 'oneway' ? '<b>cut one way: ' + esc(way) + '</b>' : 'up'}</div>` +
      dirRows(l) + (l.faults.length ? '<div>in effect: ' + l.faults.map(esc).join('; ') + '</div>' : '');
  }

  function hideTip() { $('tip').hidden = true; S.hovered = null; }

  function refreshTip() {     // the hover follows the link's state while the mouse rests on it
    const l = S.hovered && S.links[S.hovered];
    if (l && !$('tip').hidden) $('tip').innerHTML = linkText(l);
  }

  function showTip(e) {
    const l = S.links[e.target.data('name')];
    if (!l) return;
    S.hovered = l.id;
    const tip = $('tip');
    tip.innerHTML = linkText(l);
    const p = e.renderedPosition || { x: 0, y: 0 };
    const r = $('map').getBoundingClientRect();
    tip.style.left = (r.left + p.x + 12) + 'px';
    tip.style.top = (r.top + p.y + 12) + 'px';
    tip.hidden = false;
  }

  // ---- selection and actions

  function select(kind, id) {
    S.selected = { kind, id };
    renderSelection();
    $('actions').hidden = S.readOnly;
    $('link-actions').hidden = kind !== 'link';
    $('node-actions').hidden = kind !== 'node';
    $('action-msg').textContent = '';
    if (kind === 'link') loadLinkHistory(id);
  }

  function renderSelection() {
    const s = S.selected;
    if (!s) return;
    if (s.kind === 'link' && S.links[s.id]) $('sel-info').innerHTML = linkText(S.links[s.id]);
    else if (s.kind === 'node' && S.nodes[s.id]) {
      const n = S.nodes[s.id];
      $('sel-info').innerHTML = `<b>${esc(n.id)}</b> (${esc(n.kind)}): ${n.off ? '<b>powered off</b>' : 'on'}`;
    }
  }

  async function act(body) {
    const msg = $('action-msg');
    msg.className = '';
    msg.textContent = 'sending…';
    try {
      const r = await fetch('api/action', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Testbed-Token': token },
        body: JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
      const j = await r.json();
      if (!r.ok) throw new Error(j.error || r.statusText);
      msg.textContent = 'applied: ' + j.label;
    } catch (err) {
      msg.className = 'err';
      msg.textContent = String(err.message || err);
    }
  }

  function wireActions() {
    $('flow-list').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-flow]');
      if (!b) return;
      S.pathFlow = S.pathFlow === b.dataset.flow ? null : b.dataset.flow;   // a second click clears it
      drawFlowList();
    });
    const link = () => S.selected && S.selected.id;
    // cut and restore take the direction chosen beside `set`: both ways is the carrier, one way its loss
    $('btn-cut').addEventListener('click', () => act({ op: 'cut', link: link(), direction: $('set-dir').value }));
    $('btn-restore').addEventListener('click', () => act({ op: 'restore', link: link(), direction: $('set-dir').value }));
    $('btn-set').addEventListener('click', () => act({ op: 'set', link: link(), direction: $('set-dir').value,
      rate: $('set-rate').value.trim(), delay: $('set-delay').value.trim(), loss: $('set-loss').value.trim() }));
    $('btn-off').addEventListener('click', () => act({ op: 'off', node: link() }));
    $('btn-on').addEventListener('click', () => act({ op: 'on', node: link() }));
  }

  // ---- plots

  function eventMarks() {
    return { hooks: { draw: [(u) => {
      const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save();
      ctx.lineWidth = 1;
      for (const ev of S.events) {
        if (ev.kind === 'traffic' || !ev.ok) continue;
        const x = u.valToPos(ev.t_s, 'x', true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
        ctx.strokeStyle = ev.source === 'live' ? '#6a1b9a' : '#c62828';
        ctx.setLineDash(ev.revert || ev.closes != null ? [4, 3] : []);
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
      }
      ctx.restore();
    }] } };
  }

  function plotWidth() { return Math.max(260, $('plots').clientWidth - 10); }

  function makePlot(key, title, series, yLabel) {
    const box = document.createElement('div');
    box.className = 'plot';
    box.dataset.key = key;
    const h = document.createElement('h3');
    h.textContent = title;
    box.appendChild(h);
    $('plots').appendChild(box);
    const opts = { width: plotWidth(), height: 150, plugins: [eventMarks()], legend: { live: false },
      scales: { x: { time: false } }, axes: [{ label: 's' }, { label: yLabel, size: 55 }],
      series: [{}].concat(series.map((s) => ({ label: s[0], stroke: s[1], width: 1.5, spanGaps: false }))) };
    const data = [[]].concat(series.map(() => []));
    const plot = new uPlot(opts, data, box);
    S.plots[key] = { plot, box, data };
    return S.plots[key];
  }

  function flowPlot(name, metric) {
    const key = name + '.' + metric;
    if (S.plots[key]) return S.plots[key];
    const unit = metric === 'rtt' || metric === 'delay' || metric === 'jitter' ? 'ms' : metric === 'throughput' ? 'Mbit/s' : metric === 'loss' ? '%' : '';
    return makePlot(key, `${name} ${metric}`, [[metric, '#1e88e5']], unit);
  }

  function scaleOf(metric) {
    return metric === 'rtt' || metric === 'delay' || metric === 'jitter' ? 1e3 : metric === 'throughput' ? 1e-6 : metric === 'loss' ? 100 : 1;
  }

  function drawFlows() {
    for (const [name, f] of Object.entries(S.flows)) {
      for (const [metric, pts] of Object.entries(f.series)) {
        if (!pts.length && mode !== 'replay') continue;
        const p = flowPlot(name, metric), k = scaleOf(metric);
        p.data = [pts.map((x) => x[0]), pts.map((x) => x[1] == null ? null : x[1] * k)];
        p.plot.setData(p.data);
      }
    }
  }

  async function loadLinkHistory(id) {
    try {
      const r = await fetch(withToken('api/link?id=' + encodeURIComponent(id)), { cache: 'no-store' });
      const j = await r.json();
      S.linkHist = (j.history || []).filter((row) => row[0] <= S.t + 1e-9);
    } catch (err) { S.linkHist = []; }
    drawLink();
  }

  function drawLink() {
    const s = S.selected;
    if (!s || s.kind !== 'link') return;
    const l = S.links[s.id];
    let p = S.plots.__link;
    if (p && p.id !== s.id) { p.plot.destroy(); p.box.remove(); delete S.plots.__link; p = null; }
    if (!p) {
      p = makePlot('__link', `link ${s.id}: throughput and rate`, [[l.a + '→' + l.b, '#43a047'], [l.b + '→' + l.a, '#fb8c00'],
        ['rate a→b', '#90a4ae'], ['rate b→a', '#cfd8dc']], 'Mbit/s');
      p.id = s.id;
      $('plots').prepend(p.box);
    }
    const H = S.linkHist, mb = (v) => v == null ? null : v / 1e6;
    p.data = [H.map((r) => r[0]), H.map((r) => mb(r[1])), H.map((r) => mb(r[2])), H.map((r) => mb(r[3])), H.map((r) => mb(r[4]))];
    p.plot.setData(p.data);
  }

  // ---- flows and their paths

  function drawFlowList() {
    const names = Object.keys(S.flows).filter((n) => S.flows[n].path);
    const key = names.join('\n');
    if (key !== S.flowKey) {       // rebuilt only when the flows change: a click is not lost to a redraw
      S.flowKey = key;
      $('flow-list').innerHTML = names.map((n) => `<li><button type="button" data-flow="${esc(n)}">${esc(n)}</button></li>`).join('');
    }
    for (const b of $('flow-list').querySelectorAll('button')) b.classList.toggle('on', b.dataset.flow === S.pathFlow);
    drawPath();
  }

  function drawPath() {
    if (!S.cy) return;
    const f = S.pathFlow && S.flows[S.pathFlow], p = f && f.path;
    const key = p ? JSON.stringify([S.pathFlow, p.links, p.nodes]) : '';
    if (key === S.pathKey) return;
    S.pathKey = key;
    S.cy.batch(() => {
      S.cy.elements('.path').removeClass('path');
      if (!p) return;
      for (const l of p.links) S.cy.getElementById('L:' + l).addClass('path');
      for (const n of p.nodes) S.cy.getElementById('N:' + n).addClass('path');
    });
    $('path-info').innerHTML = !p ? '' : `<b>${esc(S.pathFlow)}</b>: ${p.nodes.map(esc).join(' → ')}` +
      (p.complete ? '' : ` <b>stops</b>: ${esc(p.why || '')}`);
  }

  // ---- timeline

  function addEvent(ev) {
    if (S.seen.has(ev.seq)) return false;
    S.seen.add(ev.seq);
    S.events.push(ev);
    return true;
  }

  function drawTimeline() {
    const ol = $('events');
    const rows = S.events.filter((e) => e.kind !== 'traffic').map((e) => [e.t_s,
      `<li class="${e.source === 'live' ? 'live' : ''} ${e.ok ? '' : 'failed'}" data-seq="${e.seq}"><span class="t">${e.t_s.toFixed(2)} s</span>${esc(e.label)}` +
      `${e.source === 'live' ? '<span class="src">live</span>' : ''}${e.ok ? '' : ': ' + esc(e.error || 'failed')}</li>`]);
    // each expectation's verdict once its window has ended, at that time, beside the events
    for (const v of S.verdicts || []) {
      rows.push([v.at_s, `<li class="verdict ${v.passed ? 'pass' : 'fail'}"><span class="t">${v.at_s.toFixed(2)} s</span>` +
        `${v.passed ? '✔ passed' : '✘ failed'}: ${esc(v.expr)} (measured ${esc(v.measured_text || '–')}${v.note ? ', ' + esc(v.note) : ''})</li>`]);
    }
    rows.sort((a, b) => a[0] - b[0]);
    const next = S.upcoming.filter((u) => u.t_s > S.t).map((u) =>
      `<li class="upcoming"><span class="t">${u.t_s.toFixed(2)} s</span>${esc(u.label)} (upcoming)</li>`);
    ol.innerHTML = rows.map((r) => r[1]).concat(next).join('');
  }

  function drawHeader() {
    $('name').textContent = S.name;
    $('clock').textContent = `t = ${S.t.toFixed(1)} s` + (S.duration ? ` of ${S.duration.toFixed(0)} s` : '');
    $('status').textContent = S.status;
  }

  // ---- data in

  function applySnapshot(snap) {
    const t0 = performance.now();
    S.name = snap.name; S.duration = snap.duration_s; S.t = snap.t; S.status = snap.status;
    S.readOnly = !!snap.read_only; S.upcoming = snap.upcoming || [];
    if (!S.mapBuilt) buildMap(snap);
    for (const n of snap.nodes) setNode(n);
    for (const l of snap.links) setLink(l);
    S.events = []; S.seen = new Set(); S.verdicts = (snap.verdicts || []).slice();
    for (const ev of snap.events) addEvent(ev);
    S.flows = {};
    for (const [name, f] of Object.entries(snap.flows)) S.flows[name] = { kind: f.kind, series: f.series, path: f.path };
    finish(t0, true);
  }

  function applyChanges(batch) {
    const t0 = performance.now();
    S.t = batch.t; S.status = batch.status;
    for (const c of batch.changes) {
      if (c.type === 'link') setLink(c);
      else if (c.type === 'node') setNode(c);
      else if (c.type === 'event') addEvent(c.event);
      else if (c.type === 'verdict') S.verdicts.push(c.verdict);
      else if (c.type === 'path') {
        const f = S.flows[c.flow] || (S.flows[c.flow] = { kind: '', series: {} });
        f.path = { nodes: c.nodes, links: c.links, complete: c.complete, why: c.why };
      }
      else if (c.type === 'metrics') {
        const f = S.flows[c.flow] || (S.flows[c.flow] = { kind: c.kind, series: {} });
        const pts = f.series[c.metric] || (f.series[c.metric] = []);
        const last = pts.length ? pts[pts.length - 1][0] : -Infinity;
        for (const p of c.points) if (p[0] > last) pts.push(p);
      }
    }
    const s = S.selected;
    if (s && s.kind === 'link' && S.links[s.id] && batch.t > (S.linkHist.length ? S.linkHist[S.linkHist.length - 1][0] : -1)) {
      const l = S.links[s.id];
      S.linkHist.push([batch.t, l.dirs.ab.bps, l.dirs.ba.bps, l.dirs.ab.rate_bps, l.dirs.ba.rate_bps]);
    }
    finish(t0, false);
  }

  function finish(t0, full) {
    drawHeader();
    drawFlows();
    drawLink();
    drawTimeline();
    drawFlowList();
    renderSelection();
    refreshTip();
    S.updates += 1;
    S.updateMs.push(performance.now() - t0);
    if (S.updateMs.length > 1000) S.updateMs.shift();
    // to the frame after the one the map redrew in (cytoscape renders on animation frames)
    requestAnimationFrame(() => requestAnimationFrame(() => {
      S.paintMs.push(performance.now() - t0);
      if (S.paintMs.length > 1000) S.paintMs.shift();
    }));
    S.lastFull = full;
  }

  function live() {
    const es = new EventSource(withToken('api/stream'));
    es.addEventListener('snapshot', (e) => { $('conn').textContent = 'live'; $('conn').className = ''; applySnapshot(JSON.parse(e.data)); });
    es.addEventListener('changes', (e) => applyChanges(JSON.parse(e.data)));
    es.onerror = () => { $('conn').textContent = 'disconnected (the run may have ended)'; $('conn').className = 'lost'; };
  }

  async function replay() {
    const r = await fetch(withToken('api/snapshot'), { cache: 'no-store' });
    const snap = await r.json();
    const end = snap.end_s || snap.t;
    S.endS = end;
    const sc = $('scrubber');
    sc.max = String(end); sc.value = String(end);
    $('scrub').hidden = false;
    let pending = null, busy = false;
    async function go(t) {
      if (busy) { pending = t; return; }
      busy = true;
      try {
        const f = await (await fetch(withToken('api/frame?t=' + t), { cache: 'no-store' })).json();
        applySnapshot(f);
        sc.value = String(f.t);
        $('scrub-t').textContent = `${f.t.toFixed(1)} s`;
        if (S.selected && S.selected.kind === 'link') await loadLinkHistory(S.selected.id);
        S.frameT = f.t;
      } finally {
        busy = false;
        if (pending !== null) { const p = pending; pending = null; go(p); }
      }
    }
    sc.addEventListener('input', () => go(parseFloat(sc.value)));
    S.seek = go;
    await go(end);
  }

  wireActions();
  if (mode === 'replay') replay(); else live();
})();
