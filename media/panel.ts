// The tracing panel's webview (bundled for the browser into dist/media/panel.js, styles into panel.css).
// A thin view: the events live in the extension host (extension/client/panel/host.ts); this script
// shows the rows on screen, asks for others as the user scrolls, and sends what the user changes.
//
// Only the visible rows exist in the DOM: a small pool of row elements is re-filled on scroll, over a
// spacer as tall as the whole list (scaled down past a browser's maximum element height).
// Every string from the kernel (comm, file names, argument values) is put in as a text node; nothing
// received from the host is ever parsed as HTML.
import './panel.css';
import type {
  DetailsMessage, HostToWebview, PanelEventRow, PanelGroupRow, PanelRow, PanelState, RenderedPanel, RowsMessage, WebviewToHost,
} from '../extension/shared/panelProtocol';
import type { Grouping, PanelFilter } from '../extension/shared/panelProtocol';
import { button, fmt, h, icon } from './dom';
import { detailsContent } from './details';

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };
const vscodeApi = acquireVsCodeApi();
const send = (m: WebviewToHost): void => vscodeApi.postMessage(m);

const ROW_HEIGHT = 22;
/** Browsers cap element heights (Chromium near 33.5M px); past this the scrollbar maps proportionally. */
const MAX_SCROLL_PX = 8_000_000;
const COLUMNS = ['Time (s)', 'PID / comm', 'Syscall', 'Hook', 'Decoded summary', 'Return'];

// ---- layout ----

const root = document.getElementById('root')!;
const titleEl = h('span', { class: 'title', id: 'title' }, 'No trace session');
const detailEl = h('span', { class: 'detail', id: 'detail' });
const countsEl = h('span', { class: 'counts', id: 'counts', 'aria-live': 'polite' });
const pauseBtn = button('debug-pause', 'Pause', () => send({ type: 'setPaused', paused: !(state?.paused ?? false) }), { 'aria-pressed': 'false', id: 'pause' });
const followBtn = button('arrow-down', 'Follow the newest events', () => setFollow(!(state?.follow ?? true)), { 'aria-pressed': 'true', id: 'follow' });
const toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Trace session' },
  h('div', { class: 'heading' }, icon('pulse'), titleEl, detailEl),
  countsEl,
  h('div', { class: 'tools' },
    pauseBtn,
    followBtn,
    button('clear-all', 'Clear events', () => send({ type: 'action', action: 'clear' }), { id: 'clear' }),
    button('save-as', 'Export session as JSON lines', () => send({ type: 'action', action: 'export' }), { id: 'export' }),
    button('folder-opened', 'Open a saved session', () => send({ type: 'action', action: 'openSession' }), { id: 'open' }),
  ),
);

const textInput = h('input', { type: 'search', id: 'filter-text', placeholder: 'Filter: file, comm, argument, hook…', 'aria-label': 'Filter events by text in any decoded field' });
const pidInput = h('input', { type: 'text', id: 'filter-pid', inputmode: 'numeric', placeholder: 'PID', 'aria-label': 'Filter by process or thread id', size: '7' });
const categorySelect = h('select', { id: 'filter-category', 'aria-label': 'Filter by hook category' });
const deniedBox = h('input', { type: 'checkbox', id: 'filter-denied' });
const groupingSelect = h('select', { id: 'grouping', 'aria-label': 'Group events' },
  h('option', { value: 'none' }, 'Flat list'), h('option', { value: 'syscall' }, 'By syscall'), h('option', { value: 'process' }, 'By process'));
const hookChips = h('span', { class: 'chips', id: 'hook-chips', 'aria-label': 'Hook filter' });
const filters = h('div', { class: 'filters', role: 'search', 'aria-label': 'Event filters' },
  h('span', { class: 'search' }, icon('filter'), textInput), pidInput, categorySelect,
  h('label', { class: 'check', for: 'filter-denied' }, deniedBox, 'Denied only'),
  h('label', { class: 'grouping' }, icon('list-tree'), groupingSelect),
  hookChips,
);

const dropsBanner = h('div', { class: 'banner drops', id: 'drops', role: 'status', hidden: '' });
const histogram = h('div', { class: 'histogram', id: 'histogram', role: 'group', 'aria-label': 'Events per hook; choose a hook to filter by it' });

const rowsEl = h('div', { class: 'rows', id: 'rows', role: 'rowgroup' });
const spacer = h('div', { class: 'spacer' });
const scroller = h('div', { class: 'scroller', id: 'scroller' }, rowsEl, spacer);
const list = h('div', { class: 'list', id: 'list', role: 'treegrid', tabindex: '0', 'aria-label': 'Trace events', 'aria-rowcount': '0', 'aria-multiselectable': 'false' },
  h('div', { class: 'row header', role: 'row' }, ...COLUMNS.map((c) => h('div', { class: 'cell', role: 'columnheader' }, c))),
  scroller,
);
const details = h('div', { class: 'details', id: 'details', role: 'region', 'aria-label': 'Event details', tabindex: '-1' },
  h('p', { class: 'hint' }, 'Select an event to see every decoded argument and its syscall.'));
const emptyState = h('div', { class: 'empty', id: 'empty' },
  icon('pulse'),
  h('h2', {}, 'No trace session yet'),
  h('p', {}, 'Run “BPF-LSM: Trace Executable” to start a program under the tracer and watch every LSM hook it triggers, or open a session saved earlier as JSON lines.'),
  h('div', { class: 'actions' },
    h('button', { type: 'button', class: 'primary', id: 'empty-trace' }, 'Trace Executable…'),
    h('button', { type: 'button', class: 'secondary', id: 'empty-open' }, 'Open Saved Session…'),
  ),
);
root.append(toolbar, filters, dropsBanner, histogram, h('div', { class: 'main' }, list, details), emptyState);
emptyState.querySelector('#empty-trace')!.addEventListener('click', () => send({ type: 'action', action: 'traceExecutable' }));
emptyState.querySelector('#empty-open')!.addEventListener('click', () => send({ type: 'action', action: 'openSession' }));

// ---- state ----

let state: PanelState | undefined;
let filter: PanelFilter = {};
let cache: { version: number; first: number; rows: readonly PanelRow[] } = { version: -1, first: 0, rows: [] };
let total = 0;
let first = 0;
let visible = 1;
let selectedRow = -1;
let selectedSeq: number | undefined;
let requestId = 0;
let requestedFirst = -1;
let requestedVersion = -1;
let requestedCount = -1;
let ignoreScroll = false;
/** A selection made before its row arrived (keyboard paging, reveal): sent once the row is here. */
let selectionPending = false;
const pool: HTMLDivElement[] = [];
const shown: Array<PanelRow | undefined> = [];

// ---- filters ----

function sendFilter(): void {
  send({ type: 'setFilter', filter });
}

let textTimer: ReturnType<typeof setTimeout> | undefined;
textInput.addEventListener('input', () => {
  clearTimeout(textTimer);
  textTimer = setTimeout(() => {
    filter = { ...filter, text: textInput.value };
    sendFilter();
  }, 150);
});
pidInput.addEventListener('change', () => {
  const v = pidInput.value.trim();
  const pid = /^\d+$/.test(v) ? Number(v) : undefined;
  pidInput.setAttribute('aria-invalid', v && pid === undefined ? 'true' : 'false');
  filter = { ...filter, pid };
  sendFilter();
});
categorySelect.addEventListener('change', () => {
  filter = { ...filter, categories: categorySelect.value ? [categorySelect.value] : [] };
  sendFilter();
});
deniedBox.addEventListener('change', () => {
  filter = { ...filter, deniedOnly: deniedBox.checked };
  sendFilter();
});
groupingSelect.addEventListener('change', () => send({ type: 'setGrouping', grouping: groupingSelect.value as Grouping }));

/** Histogram bars and chips: a plain click filters on that hook alone (again: clears), Ctrl/Cmd adds. */
function toggleHook(hook: string, additive: boolean): void {
  const current = filter.hooks ?? [];
  let hooks: string[];
  if (additive) hooks = current.includes(hook) ? current.filter((x) => x !== hook) : [...current, hook];
  else hooks = current.length === 1 && current[0] === hook ? [] : [hook];
  filter = { ...filter, hooks };
  sendFilter();
}

function setFollow(follow: boolean): void {
  send({ type: 'setFollow', follow });
  if (state) state = { ...state, follow };
  followBtn.setAttribute('aria-pressed', String(follow));
  if (follow) scrollToFirst(maxFirst());
}

// ---- toolbar, histogram, banners ----

function renderState(s: PanelState): void {
  titleEl.textContent = s.title;
  detailEl.textContent = s.detail;
  const stateWord = s.state === 'live' ? 'live' : s.state === 'ended' ? 'ended' : s.state === 'saved' ? 'saved session' : '';
  countsEl.textContent = `${fmt(s.matching)} of ${fmt(s.total)} events` + (s.held ? ` · ${fmt(s.held)} held while paused` : '') + (stateWord ? ` · ${stateWord}` : '');
  pauseBtn.setAttribute('aria-pressed', String(s.paused));
  pauseBtn.setAttribute('aria-label', s.paused ? 'Resume' : 'Pause');
  pauseBtn.title = s.paused ? 'Resume: show events received while paused' : 'Pause: hold new events';
  pauseBtn.firstElementChild!.className = `codicon codicon-${s.paused ? 'debug-continue' : 'debug-pause'}`;
  followBtn.setAttribute('aria-pressed', String(s.follow));
  groupingSelect.value = s.grouping;
  filter = s.filter;
  if (document.activeElement !== textInput) textInput.value = s.filter.text ?? '';
  if (document.activeElement !== pidInput) pidInput.value = s.filter.pid !== undefined ? String(s.filter.pid) : '';
  deniedBox.checked = s.filter.deniedOnly === true;
  const wanted = ['', ...s.categories];
  if ([...categorySelect.options].map((o) => o.value).join() !== wanted.join()) {
    categorySelect.replaceChildren(...wanted.map((c) => h('option', { value: c }, c || 'All categories')));
  }
  categorySelect.value = s.filter.categories?.[0] ?? '';

  hookChips.replaceChildren(...(s.filter.hooks ?? []).map((hook) => {
    const chip = h('button', { type: 'button', class: 'chip', 'aria-label': `Remove hook filter ${hook}`, title: 'Remove this hook filter' }, hook, icon('close'));
    chip.addEventListener('click', () => toggleHook(hook, true));
    return chip;
  }));

  const dropped = Object.entries(s.drops).filter(([, n]) => n > 0);
  if (dropped.length) {
    const sum = dropped.reduce((a, [, n]) => a + n, 0);
    dropsBanner.replaceChildren(icon('warning'), ` ${fmt(sum)} ${sum === 1 ? 'event was' : 'events were'} dropped and ${sum === 1 ? 'is' : 'are'} missing from this session: ` +
      dropped.map(([where, n]) => `${fmt(n)} by the ${where}`).join(', ') + '.');
    dropsBanner.hidden = false;
  } else dropsBanner.hidden = true;

  const max = s.histogram.reduce((a, e) => Math.max(a, e.total), 1);
  const active = new Set(s.filter.hooks ?? []);
  histogram.replaceChildren(...s.histogram.map((e) => {
    const bar = h('span', { class: 'bar' });
    bar.style.width = `${Math.max(2, (e.total / max) * 100)}%`;
    const fill = h('span', { class: 'fill' });
    fill.style.width = `${e.total ? (e.matching / e.total) * 100 : 0}%`;
    bar.append(fill);
    const label = `${e.hook}: ${fmt(e.total)} events${e.denied ? `, ${fmt(e.denied)} denied` : ''}`;
    const b = h('button', { type: 'button', class: 'hbar', 'aria-pressed': String(active.has(e.hook)), 'aria-label': label, title: `${label}. Click to filter; Ctrl+click to add.` },
      h('span', { class: 'hname' }, e.hook), bar, h('span', { class: 'hcount' }, fmt(e.total)), e.denied ? icon('error', `${e.denied} denied`) : undefined);
    b.addEventListener('click', (ev) => toggleHook(e.hook, ev.ctrlKey || ev.metaKey));
    return b;
  }));
  histogram.hidden = s.histogram.length === 0;

  const empty = s.total === 0 && s.state === 'empty';
  emptyState.hidden = !empty;
  root.classList.toggle('is-empty', empty);
}

// ---- virtual list ----

function maxFirst(): number {
  return Math.max(0, total - visible + 1);
}

/** No screen shows more rows than this; a layout that lets the list grow must not fill the DOM. */
const MAX_VISIBLE = 300;

function measure(): void {
  visible = Math.max(1, Math.min(MAX_VISIBLE, Math.ceil(scroller.clientHeight / ROW_HEIGHT)));
}

function setTotal(n: number): void {
  total = n;
  list.setAttribute('aria-rowcount', String(n));
  const virtualPx = Math.min(n * ROW_HEIGHT + ROW_HEIGHT, MAX_SCROLL_PX);
  spacer.style.height = `${Math.max(0, virtualPx - scroller.clientHeight)}px`;
}

function firstFromScroll(): number {
  const maxTop = scroller.scrollHeight - scroller.clientHeight;
  if (maxTop <= 0) return 0;
  if ((total + 1) * ROW_HEIGHT <= MAX_SCROLL_PX) return Math.min(maxFirst(), Math.floor(scroller.scrollTop / ROW_HEIGHT));
  return Math.round((scroller.scrollTop / maxTop) * maxFirst());
}

function scrollToFirst(f: number): void {
  const maxTop = scroller.scrollHeight - scroller.clientHeight;
  const target = (total + 1) * ROW_HEIGHT <= MAX_SCROLL_PX ? f * ROW_HEIGHT : maxFirst() ? (f / maxFirst()) * maxTop : 0;
  if (Math.abs(scroller.scrollTop - target) >= 1) {
    ignoreScroll = true;
    scroller.scrollTop = target;
  }
  first = Math.max(0, Math.min(f, maxFirst()));
  renderRows();
}

let frame = 0;
scroller.addEventListener('scroll', () => {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const programmatic = ignoreScroll;
    ignoreScroll = false;
    first = firstFromScroll();
    if (!programmatic && state) {
      const atEnd = first >= maxFirst() - 1;
      if (state.follow && !atEnd) setFollow(false);
      else if (!state.follow && atEnd && state.state === 'live') setFollow(true);
    }
    renderRows();
  });
});

new ResizeObserver(() => {
  measure();
  setTotal(total);
  // More rows fit now (or fewer): the first row drawn moves with them, else a list following the tail
  // would keep its old first row and draw the last few rows above blank space.
  if (state?.follow) scrollToFirst(maxFirst());
  else {
    first = Math.min(first, maxFirst());
    renderRows();
  }
}).observe(scroller);

function requestRows(): void {
  const version = state?.version ?? 0;
  const count = visible + 1;
  // The count is part of what was asked: after a resize the same first row needs more rows than before.
  if (requestedFirst === first && requestedVersion === version && requestedCount === count) return;
  requestedFirst = first;
  requestedVersion = version;
  requestedCount = count;
  send({ type: 'viewport', requestId: ++requestId, first, count });
}

function rowAt(r: number): PanelRow | undefined {
  const k = r - cache.first;
  return k >= 0 && k < cache.rows.length ? cache.rows[k] : undefined;
}

function renderRows(): void {
  const need = Math.min(visible + 1, Math.max(0, total - first));
  let missing = false;
  while (pool.length < need) pool.push(makeRow(pool.length));
  for (let k = 0; k < need; k++) {
    const el = pool[k];
    if (el.parentNode !== rowsEl) rowsEl.append(el);
    const data = rowAt(first + k);
    if (!data) missing = true;
    fillRow(el, first + k, data);
    shown[k] = data;
  }
  for (let k = need; k < pool.length; k++) {
    pool[k].remove();
    shown[k] = undefined;
  }
  if (missing || cache.version !== (state?.version ?? cache.version) || cache.first !== first) requestRows();
  const active = pool.find((el, k) => k < need && Number(el.dataset.row) === selectedRow);
  if (active) list.setAttribute('aria-activedescendant', active.id);
  else list.removeAttribute('aria-activedescendant');
}

function makeRow(k: number): HTMLDivElement {
  const el = h('div', { class: 'row', role: 'row', id: `trace-row-${k}`, 'data-pool': String(k) });
  for (let c = 0; c < COLUMNS.length; c++) el.append(h('div', { class: `cell c${c}`, role: 'gridcell' }));
  return el;
}

function fillRow(el: HTMLDivElement, r: number, data: PanelRow | undefined): void {
  el.dataset.row = String(r);
  el.setAttribute('aria-rowindex', String(r + 1));
  const cells = el.children as HTMLCollectionOf<HTMLElement>;
  el.className = 'row';
  el.removeAttribute('aria-expanded');
  el.removeAttribute('aria-level');
  el.setAttribute('aria-selected', String(r === selectedRow));
  if (r === selectedRow) el.classList.add('selected');
  if (!data) {
    el.classList.add('loading');
    for (const c of cells) c.replaceChildren();
    delete el.dataset.seq;
    return;
  }
  if (data.type === 'group') fillGroup(el, cells, data);
  else fillEvent(el, cells, data);
}

function fillEvent(el: HTMLDivElement, cells: HTMLCollectionOf<HTMLElement>, e: PanelEventRow): void {
  el.dataset.seq = String(e.seq);
  delete el.dataset.group;
  el.classList.add(`k-${e.kind}`);
  if (e.depth) el.classList.add('child');
  if (e.denied) el.classList.add('denied');
  if (e.failed) el.classList.add('failed');
  el.setAttribute('aria-level', String(e.depth + 1));
  cells[0].replaceChildren(e.time);
  cells[1].replaceChildren(h('span', { class: 'pid' }, String(e.pid)), ' ', h('span', { class: 'comm' }, e.comm));
  cells[2].replaceChildren(e.syscall);
  if (e.hook) {
    const link = h('button', { type: 'button', class: 'link hook', tabindex: '-1', title: `Reference of hook ${e.hook}` }, e.hook);
    cells[3].replaceChildren(link);
  } else cells[3].replaceChildren(e.kind === 'drops' ? icon('warning', 'drops') : e.kind === 'process' ? icon('symbol-event', 'process') : '');
  cells[4].replaceChildren(
    e.hasSource ? icon('go-to-file', 'has source link') : '',
    h('span', { class: 'summary' }, e.summary),
  );
  cells[4].title = e.summary;
  cells[5].replaceChildren(e.denied ? icon('error', 'denied') : '', e.ret);
  cells[5].setAttribute('aria-label', e.denied ? `denied, returned ${e.ret}` : e.ret ? `returned ${e.ret}` : 'no return value');
}

function fillGroup(el: HTMLDivElement, cells: HTMLCollectionOf<HTMLElement>, g: PanelGroupRow): void {
  el.dataset.group = String(g.group);
  delete el.dataset.seq;
  el.classList.add('group');
  if (g.denied) el.classList.add('denied');
  if (g.failed) el.classList.add('failed');
  el.setAttribute('aria-expanded', String(g.expanded));
  el.setAttribute('aria-level', '1');
  const twisty = icon(g.expanded ? 'chevron-down' : 'chevron-right');
  twisty.classList.add('twisty');
  cells[0].replaceChildren(twisty, g.time);
  const counts = `${fmt(g.count)} event${g.count === 1 ? '' : 's'}` + (g.denied ? `, ${fmt(g.denied)} denied` : '');
  if (g.grouping === 'syscall') {
    cells[1].replaceChildren(h('span', { class: 'pid' }, String(g.pid)));
    cells[2].replaceChildren(h('strong', {}, g.label));
    cells[3].replaceChildren();
    cells[4].replaceChildren(counts);
  } else {
    cells[1].replaceChildren(h('span', { class: 'pid' }, String(g.tgid)), ' ', h('strong', { class: 'comm' }, g.label));
    cells[2].replaceChildren();
    cells[3].replaceChildren();
    cells[4].replaceChildren(`process ${g.tgid}: ${counts}`);
  }
  cells[4].title = '';
  cells[5].replaceChildren(g.denied ? icon('error', 'contains denials') : '', g.ret);
  cells[5].removeAttribute('aria-label');
}

// ---- selection, keyboard, clicks ----

function select(r: number, open: 'none' | 'keep-focus' | 'focus-editor'): void {
  if (total === 0) return;
  selectedRow = Math.max(0, Math.min(r, total - 1));
  if (selectedRow < first) scrollToFirst(selectedRow);
  else if (selectedRow >= first + visible - 1) scrollToFirst(selectedRow - visible + 2);
  else renderRows();
  const data = rowAt(selectedRow);
  selectionPending = !data && open === 'none';
  if (data?.type === 'event') {
    selectedSeq = data.seq;
    send({ type: 'select', seq: data.seq });
    if (open !== 'none') send({ type: 'openSource', seq: data.seq, preserveFocus: open === 'keep-focus' });
  }
}

function completePendingSelection(): void {
  if (!selectionPending) return;
  const data = rowAt(selectedRow);
  if (!data) return;
  selectionPending = false;
  if (data.type === 'event') {
    selectedSeq = data.seq;
    send({ type: 'select', seq: data.seq });
  }
}

function toggle(row: PanelGroupRow, expanded = !row.expanded): void {
  send({ type: 'toggleGroup', group: row.group, expanded });
}

rowsEl.addEventListener('click', (ev) => {
  const target = ev.target as HTMLElement;
  const rowEl = target.closest<HTMLDivElement>('.row');
  if (!rowEl) return;
  const r = Number(rowEl.dataset.row);
  const data = rowAt(r);
  if (!data) return;
  list.focus({ preventScroll: true });
  if (data.type === 'group') {
    selectedRow = r;
    toggle(data);
    renderRows();
    return;
  }
  if (target.closest('.hook')) {
    selectedRow = r;
    renderRows();
    send({ type: 'select', seq: data.seq });
    send({ type: 'openHookDoc', hook: data.hook });
    return;
  }
  select(r, 'keep-focus');
});

list.addEventListener('keydown', (ev) => {
  const current = selectedRow < 0 ? first : selectedRow;
  const data = rowAt(current);
  switch (ev.key) {
    case 'ArrowDown': select(selectedRow < 0 ? first : current + 1, 'none'); break;
    case 'ArrowUp': select(current - 1, 'none'); break;
    case 'PageDown': select(current + visible - 1, 'none'); break;
    case 'PageUp': select(current - visible + 1, 'none'); break;
    case 'Home': select(0, 'none'); break;
    case 'End': select(total - 1, 'none'); break;
    case 'Enter':
      if (data?.type === 'group') toggle(data);
      else select(current, 'focus-editor');
      break;
    case ' ':
      if (data?.type === 'group') toggle(data);
      else select(current, 'keep-focus');
      break;
    case 'ArrowRight':
      if (data?.type === 'group' && !data.expanded) toggle(data, true);
      break;
    case 'ArrowLeft':
      if (data?.type === 'group' && data.expanded) toggle(data, false);
      break;
    default:
      return;
  }
  ev.preventDefault();
});

// ---- details pane ----

function renderDetails(d: DetailsMessage): void {
  // The host answers selections in order, so the newest details are the current selection's.
  selectedSeq = d.seq;
  details.replaceChildren(...detailsContent(d, send));
}

// ---- messages from the host ----

function applyRows(m: RowsMessage): void {
  if (m.version < cache.version) return;
  cache = { version: m.version, first: m.first, rows: m.rows };
  if (m.total !== total) setTotal(m.total);
}

window.addEventListener('message', (ev: MessageEvent<HostToWebview>) => {
  const m = ev.data;
  switch (m.type) {
    case 'update': {
      state = m.state;
      renderState(m.state);
      setTotal(m.state.rows);
      if (m.window) applyRows(m.window);
      if (m.state.follow) scrollToFirst(maxFirst());
      else {
        if (first > maxFirst()) first = maxFirst();
        renderRows();
      }
      break;
    }
    case 'rows':
      applyRows(m);
      renderRows();
      completePendingSelection();
      break;
    case 'details':
      renderDetails(m);
      break;
    case 'reveal':
      scrollToFirst(m.row);
      if (m.select) select(m.row, 'none');
      break;
    case 'query':
      send({ type: 'queryResult', requestId: m.requestId, rendered: rendered() });
      break;
  }
});

function rendered(): RenderedPanel {
  const attached = [...rowsEl.children] as HTMLElement[];
  return {
    rowsInDom: attached.length,
    rows: attached.map((el) => ({
      ...(el.dataset.seq !== undefined ? { seq: Number(el.dataset.seq) } : {}),
      ...(el.dataset.group !== undefined ? { group: Number(el.dataset.group) } : {}),
      cells: [...el.children].map((c) => c.textContent ?? ''),
      denied: el.classList.contains('denied'),
    })),
    ...(selectedSeq !== undefined ? { selectedSeq } : {}),
    details: details.textContent ?? '',
    dropBanner: dropsBanner.hidden ? '' : dropsBanner.textContent ?? '',
    emptyStateVisible: !emptyState.hidden,
    histogram: [...histogram.querySelectorAll('.hbar')].map((b) => b.getAttribute('aria-label') ?? ''),
    list: { first, visible, total, cacheFirst: cache.first, cacheRows: cache.rows.length, cacheVersion: cache.version, stateVersion: state?.version ?? -1 },
  };
}

measure();
send({ type: 'ready' });
