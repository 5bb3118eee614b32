// The tracing panel's details pane: everything about the selected event, as text nodes only.
import type { DetailsMessage, WebviewToHost } from '../extension/shared/panelProtocol';
import type { TraceValue } from '../extension/shared/traceEvent';
import { h, icon } from './dom';

function valueNode(v: TraceValue): Node {
  if (v === null || typeof v !== 'object') return h('span', { class: `v v-${v === null ? 'null' : typeof v}` }, String(v));
  const ul = h('ul', { class: 'tree' });
  const entries: Array<[string, TraceValue]> = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
  for (const [k, x] of entries) ul.append(h('li', {}, h('span', { class: 'k' }, k), ': ', valueNode(x)));
  return ul;
}

/** The details pane's content for one event: its fields, arguments and syscall context. */
export function detailsContent(d: DetailsMessage, send: (m: WebviewToHost) => void): Node[] {
  const e = d.event;
  const rows: Array<[string, Node | string]> = [
    ['Kind', e.kind.replace('_', ' ')],
    ['Time', `${e.time} ns since boot`],
  ];
  if (e.cpu !== undefined) rows.push(['CPU', String(e.cpu)]);
  rows.push(['Thread / process', `${e.pid} / ${e.tgid}`], ['Command', e.comm]);
  if (e.kind === 'hook') {
    const hookLink = h('button', { type: 'button', class: 'link', title: 'Open the hook reference' }, e.hook);
    hookLink.addEventListener('click', () => send({ type: 'openHookDoc', hook: e.hook }));
    rows.push(['Hook', hookLink]);
    if (e.category) rows.push(['Category', e.category]);
    if (e.syscall) rows.push(['Syscall', e.syscall]);
  }
  if (e.kind === 'syscall_enter' || e.kind === 'syscall_exit') rows.push(['Syscall', `${e.syscall} (nr ${e.nr})`]);
  if (d.ret) rows.push(['Returned', h('span', { class: d.denied ? 'denied-text' : '' }, d.denied ? icon('error') : '', d.ret, d.denied ? ' — denied by the LSM' : '')]);
  if (e.kind === 'process') {
    rows.push(['Process event', e.what]);
    if (e.filename !== undefined) rows.push(['File', e.filename]);
    if (e.child !== undefined) rows.push(['Child', String(e.child)]);
    if (e.exitCode !== undefined) rows.push(['Exit code', String(e.exitCode)]);
  }
  if (e.kind === 'drops') rows.push(['Dropped', `${e.count} events by the ${e.where}`]);
  if (d.sourceLabel) {
    const open = h('button', { type: 'button', class: 'link', id: 'details-source' }, icon('go-to-file'), ` ${d.sourceLabel}`);
    open.addEventListener('click', () => send({ type: 'openSource', seq: d.seq, preserveFocus: false }));
    rows.push(['Source', open]);
  }
  const dl = h('dl', {});
  for (const [k, v] of rows) dl.append(h('dt', {}, k), h('dd', {}, v));
  const parts: Node[] = [h('h2', {}, e.kind === 'hook' ? e.hook : e.kind === 'drops' ? 'dropped events' : 'syscall' in e ? e.syscall : e.kind), dl];
  if (e.kind === 'hook' || e.kind === 'syscall_enter') {
    parts.push(h('h3', {}, 'Arguments'), valueNode(e.args as TraceValue));
  }
  const c = d.context;
  if (c) {
    const head = `${c.syscall}(${c.enterArgs ? c.enterArgs.join(', ') : '…'})` + (c.ret !== undefined ? ` = ${c.ret}` : '');
    const ol = h('ol', { class: 'context' });
    for (const hk of c.hooks) {
      ol.append(h('li', { class: `${hk.seq === d.seq ? 'current' : ''} ${hk.denied ? 'denied-text' : ''}`.trim() }, hk.hook, hk.ret ? ` → ${hk.ret}` : ''));
    }
    if (c.moreHooks) ol.append(h('li', {}, `… ${c.moreHooks} more`));
    parts.push(h('h3', {}, 'Syscall context'), h('p', { class: c.failed ? 'failed-text' : '' }, `thread ${c.pid}: ${head}`), ol);
  }
  return parts;
}
