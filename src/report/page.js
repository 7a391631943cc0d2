// kairos map report: draws the embedded data (already projected to metres east
// and north) as SVG, and links the map, the timeline and the details panel.
// User text only ever goes in as text (textContent), never as markup.
'use strict';
(function () {
  const started = performance.now();
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const svg = document.getElementById('map');
  const NS = svg.namespaceURI; // the SVG namespace, without naming an address here
  const PALETTE = ['#0969da', '#8250df', '#bf3989', '#1b7c83', '#953800', '#116329'];
  const STATUS = {
    suggested: 'merchant suggested', eligible: 'eligible', not_eligible: 'near the drive, not eligible',
    clean: 'no problem', warning: 'warnings', error: 'errors',
  };

  function svgEl(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function htmlEl(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function tip(node, text) { svgEl('title', {}, node).textContent = text; }
  const points = line => line.map(p => p[0] + ',' + p[1]).join(' ');
  const clock = t => { const m = /T(\d\d:\d\d:\d\d)/.exec(t || ''); return m ? m[1] : String(t); };
  const driveColor = i => PALETTE[i % PALETTE.length];

  document.getElementById('summary').textContent = data.summary.join(' · ');

  // Layers, bottom to top; markers keep their size on screen (`sized`).
  const world = svgEl('g', { id: 'world' }, svg);
  const layer = {};
  for (const name of ['roads', 'drives', 'links', 'merchants', 'suggestions', 'top']) {
    layer[name] = svgEl('g', { id: 'layer-' + name }, world);
  }
  const labelLayer = svgEl('g', { id: 'labels' }, svg); // screen space, above the world
  const labels = [];
  function label(text, at, cls) {
    const t = svgEl('text', { class: 'label ' + (cls || '') }, labelLayer);
    t.textContent = text;
    labels.push({ t, at });
  }
  const sized = [];
  function dot(cls, at, r, parent) {
    const c = svgEl('circle', { class: cls, cx: at[0], cy: at[1] }, parent);
    c.dataset.r = r;
    sized.push(c);
    return c;
  }

  for (const road of data.roads) svgEl('polyline', { class: 'road', points: points(road) }, layer.roads);
  data.drives.forEach((d, i) => {
    const line = svgEl('polyline', { class: 'drive', points: points(d.points), stroke: driveColor(i) }, layer.drives);
    tip(line, 'drive of ' + d.device + ' (' + d.points.length + ' positions)');
    if (d.points.length) {
      dot('drive-start', d.points[0], 4, layer.drives).setAttribute('fill', driveColor(i));
      label(d.device, d.points[0], 'device');
    }
  });

  const rank = { not_eligible: 0, clean: 1, eligible: 1, warning: 2, error: 3, suggested: 4 };
  data.merchants
    .map((m, i) => i)
    .sort((a, b) => rank[data.merchants[a].status] - rank[data.merchants[b].status])
    .forEach(i => {
      const m = data.merchants[i];
      const big = m.status === 'suggested' || m.status === 'error' || m.status === 'warning';
      const c = dot('merchant ' + m.status, m.at, big ? 6 : 4, layer.merchants);
      tip(c, m.name + ' (' + m.kind + '): ' + (m.why || STATUS[m.status]));
      c.dataset.merchant = i;
      if (m.status === 'suggested' || data.merchants.length <= 40) label(m.name, m.at);
    });

  const suggestionFor = {};
  data.suggestions.forEach((s, i) => {
    if (s.event !== null) suggestionFor[s.event] = i;
    if (s.merchant !== null) {
      const to = data.merchants[s.merchant].at;
      svgEl('line', { class: 'link', x1: s.at[0], y1: s.at[1], x2: to[0], y2: to[1] }, layer.links);
    }
    const c = dot('suggestion-marker', s.at, 8, layer.suggestions);
    tip(c, clock(s.time) + ' ' + s.device + ': ' + s.message);
    c.dataset.suggestion = i;
  });

  const ring = dot('', [0, 0], 13, layer.top);
  ring.id = 'highlight';
  ring.style.display = 'none';
  function highlight(at) {
    if (!at) { ring.style.display = 'none'; return; }
    ring.setAttribute('cx', at[0]);
    ring.setAttribute('cy', at[1]);
    ring.style.display = '';
  }

  // Scale bar (top left, screen space): a round length of at most 120 px.
  const scale = svgEl('g', { id: 'scale' }, svg);
  const scaleLine = svgEl('polyline', { fill: 'none', stroke: '#1f2328', 'stroke-width': 2 }, scale);
  const scaleText = svgEl('text', { class: 'label', x: 12, y: 20 }, scale);
  function drawScale() {
    let metres = Math.pow(10, Math.floor(Math.log10(120 / k)));
    for (const f of [5, 2]) if (metres * f * k <= 120) { metres *= f; break; }
    scaleLine.setAttribute('points', '12,26 12,30 ' + (12 + metres * k) + ',30 ' + (12 + metres * k) + ',26');
    scaleText.textContent = metres >= 1000 ? metres / 1000 + ' km' : metres + ' m';
  }

  // View: screen = (tx + k x, ty - k y).
  let k = 1, tx = 0, ty = 0;
  function apply() {
    world.setAttribute('transform', 'translate(' + tx + ' ' + ty + ') scale(' + k + ' ' + -k + ')');
    for (const c of sized) c.setAttribute('r', c.dataset.r / k);
    for (const { t, at } of labels) {
      t.setAttribute('x', tx + k * at[0] + 8);
      t.setAttribute('y', ty - k * at[1] + 4);
    }
    drawScale();
  }
  function fit() {
    let all = data.drives.flatMap(d => d.points)
      .concat(data.merchants.map(m => m.at), data.suggestions.map(s => s.at));
    if (!all.length) all = data.roads.flat();
    if (!all.length) all = [[0, 0]];
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [x, y] of all) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    const w = svg.clientWidth || 800, h = svg.clientHeight || 600;
    k = 0.9 * Math.min(w / Math.max(x1 - x0, 200), h / Math.max(y1 - y0, 200));
    tx = w / 2 - k * (x0 + x1) / 2;
    ty = h / 2 + k * (y0 + y1) / 2;
    apply();
  }
  function reveal(at) {
    const w = svg.clientWidth, h = svg.clientHeight, sx = tx + k * at[0], sy = ty - k * at[1];
    if (sx < 0 || sy < 0 || sx > w || sy > h) { tx += w / 2 - sx; ty += h / 2 - sy; apply(); }
  }
  const mouse = e => { const r = svg.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  svg.addEventListener('wheel', e => {
    e.preventDefault();
    const f = Math.exp(-e.deltaY * 0.0015), [mx, my] = mouse(e);
    tx = mx - (mx - tx) * f;
    ty = my - (my - ty) * f;
    k *= f;
    apply();
  }, { passive: false });
  let drag = null, moved = false;
  svg.addEventListener('pointerdown', e => { drag = mouse(e); moved = false; });
  svg.addEventListener('pointermove', e => {
    if (!drag) return;
    const [mx, my] = mouse(e);
    if (!moved && Math.abs(mx - drag[0]) + Math.abs(my - drag[1]) < 4) return;
    if (!moved) { moved = true; svg.classList.add('dragging'); }
    tx += mx - drag[0];
    ty += my - drag[1];
    drag = [mx, my];
    apply();
  });
  window.addEventListener('pointerup', () => { drag = null; svg.classList.remove('dragging'); });
  svg.addEventListener('dblclick', fit);
  svg.addEventListener('click', e => { // one listener for every marker
    const d = e.target.dataset || {};
    if (moved) return;
    if (d.suggestion !== undefined) showSuggestion(Number(d.suggestion));
    else if (d.merchant !== undefined) showMerchant(Number(d.merchant));
  });
  window.addEventListener('resize', fit);

  // Legend: what is on this map.
  const legend = document.getElementById('legend');
  function legendRow(draw, label) {
    const row = htmlEl('div');
    const s = svgEl('svg', { viewBox: '0 0 22 14' });
    draw(s);
    row.append(s, htmlEl('span', label));
    legend.appendChild(row);
  }
  data.drives.forEach((d, i) => legendRow(s => svgEl('line', { x1: 1, y1: 7, x2: 21, y2: 7, stroke: driveColor(i), 'stroke-width': 3 }, s), 'drive of ' + d.device));
  if (data.drives.length || data.suggestions.length) {
    legendRow(s => svgEl('circle', { class: 'suggestion-marker', cx: 11, cy: 7, r: 5 }, s), 'suggestion, where it was made');
  }
  const present = new Set(data.merchants.map(m => m.status));
  for (const status of Object.keys(STATUS)) {
    if (present.has(status)) legendRow(s => svgEl('circle', { class: 'merchant ' + status, cx: 11, cy: 7, r: 4.5 }, s), STATUS[status]);
  }
  if (data.roads.length) legendRow(s => svgEl('line', { class: 'road', x1: 1, y1: 7, x2: 21, y2: 7 }, s), 'road');
  legendRow(s => svgEl('circle', { cx: 11, cy: 7, r: 5, fill: 'none', stroke: '#0969da', 'stroke-width': 2 }, s), 'selected');

  // Details panel.
  const detail = document.getElementById('detail');
  function table(rows, head) {
    const t = htmlEl('table');
    if (head) { const tr = t.insertRow(); for (const h of head) tr.appendChild(htmlEl('th', h)); }
    for (const row of rows) {
      const tr = t.insertRow();
      for (const cell of row) {
        const td = tr.insertCell();
        if (cell && typeof cell === 'object') { td.textContent = cell.text; td.className = cell.cls; } else td.textContent = cell;
      }
    }
    return t;
  }
  function showSuggestion(i) {
    const s = data.suggestions[i];
    detail.replaceChildren(htmlEl('h3', s.merchant_name), htmlEl('p', s.message, 'message'),
      table([['device', s.device], ['at', s.time], ['offer', s.offer], ['distance', s.distance_m + ' m']]),
      htmlEl('p', s.reasons.join(' · '), 'reasons'), htmlEl('h2', 'Why this one'));
    if (s.explanation) {
      detail.appendChild(table(s.explanation.map(c => [c.name, c.offer, c.distance_m + ' m',
        c.verdict === 'wins' ? { text: 'wins (score ' + c.score + ')', cls: 'wins' } : c.verdict]),
        ['candidate', 'offer', 'distance', 'rule']));
    } else {
      detail.appendChild(htmlEl('p', 'No explanation in this report.', 'muted'));
    }
    highlight(s.at);
    reveal(s.at);
    if (s.event !== null) select(timelineItems[s.event]);
  }
  function showMerchant(i) {
    const m = data.merchants[i];
    detail.replaceChildren(htmlEl('h3', m.name),
      table([['id', m.id], ['kind', m.kind], ['status', m.why || STATUS[m.status]]]));
    const mine = data.problems.filter(p => p.merchant === i);
    if (mine.length) detail.appendChild(table(mine.map(p => [{ text: p.level, cls: p.level }, p.message]), ['', 'problem']));
    highlight(m.at);
    reveal(m.at);
  }
  function showEvent(i) {
    const e = data.events[i];
    detail.replaceChildren(htmlEl('h3', e.kind + (e.device ? ' · ' + e.device : '')),
      table([['at', e.time], ['trace line', e.line], ['topic', e.topic || '(none)'], ['what', e.text]]));
    highlight(e.at);
    if (e.at) reveal(e.at);
  }

  // Timeline and problems: hover shows where, click shows what.
  let selected = null;
  function select(li) {
    if (selected) selected.classList.remove('selected');
    selected = li || null;
    if (li) { li.classList.add('selected'); li.scrollIntoView({ block: 'nearest' }); }
  }
  const timeline = document.getElementById('timeline');
  const timelineItems = data.events.map((e, i) => {
    const li = htmlEl('li', null, 'ev ' + e.kind);
    const what = (e.topic ? e.topic.split('/').pop() + ': ' : '') + e.text;
    li.append(htmlEl('time', clock(e.time)), htmlEl('span', e.device || '', 'dev'), htmlEl('span', what, 'what'));
    li.title = e.time + ' · line ' + e.line + ' · ' + (e.topic || 'no topic') + '\n' + e.text;
    li.dataset.event = i;
    return li;
  });
  const items = document.createDocumentFragment();
  for (const li of timelineItems) items.appendChild(li);
  timeline.appendChild(items);
  const eventOf = e => { const li = e.target.closest('li'); return li ? Number(li.dataset.event) : null; };
  timeline.addEventListener('mouseover', e => { const i = eventOf(e); if (i !== null) highlight(data.events[i].at); });
  timeline.addEventListener('click', e => {
    const i = eventOf(e);
    if (i === null) return;
    select(timelineItems[i]);
    if (i in suggestionFor) showSuggestion(suggestionFor[i]); else showEvent(i);
  });
  if (data.events.length) document.getElementById('timeline-box').hidden = false;

  const onMap = document.getElementById('problems'), offMap = document.getElementById('unplaced');
  for (const p of data.problems) {
    const li = htmlEl('li', null, p.level);
    li.append(htmlEl('span', p.level), htmlEl('span', (p.feature ? p.feature + ': ' : '') + p.message, 'what'));
    li.title = p.file;
    if (p.merchant !== null) {
      const at = data.merchants[p.merchant].at;
      li.addEventListener('mouseenter', () => highlight(at));
      li.addEventListener('click', () => { select(li); showMerchant(p.merchant); });
      onMap.appendChild(li);
    } else {
      offMap.appendChild(li);
    }
  }
  document.getElementById('problems-box').hidden = !onMap.children.length;
  document.getElementById('unplaced-box').hidden = !offMap.children.length;

  fit();
  // `page.html#suggestion-0` opens with that suggestion shown.
  const wanted = /^#suggestion-(\d+)$/.exec(location.hash);
  if (wanted && data.suggestions[wanted[1]]) showSuggestion(Number(wanted[1]));
  document.body.dataset.drawMs = Math.round(performance.now() - started); // for bench/report.sh
})();
