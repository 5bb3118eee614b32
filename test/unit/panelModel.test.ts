// The tracing panel's event store: filters agree with a plain reference implementation, groups nest hook
// calls under their syscall and process, the histogram counts, events round-trip for export.
import * as assert from 'node:assert/strict';
import type { PanelFilter } from '../../extension/shared/panelProtocol';
import { PanelModel, type ViewRow } from '../../extension/shared/panel/store';
import { isTraceEvent } from '../../extension/shared/panel/savedFile';
import { formatRet, summarizeArgs } from '../../extension/shared/panel/format';
import type { HookEvent, TraceEvent } from '../../extension/shared/traceEvent';
import { syntheticSession } from '../fixtures/sessions/synthetic';
import { hookCategory } from '../../extension/shared/hooks/categories';

function model(events: TraceEvent[], batch = 97): PanelModel {
  const m = new PanelModel();
  for (let i = 0; i < events.length; i += batch) m.append(events.slice(i, i + batch));
  return m;
}

function leaves(v: unknown, out: string[] = []): string[] {
  if (v === null || v === undefined) return out;
  if (typeof v !== 'object') out.push(String(v));
  else for (const x of Object.values(v as object)) leaves(x, out);
  return out;
}

/** The obvious, slow definition of each filter, to hold the typed-array scan to. */
function reference(events: TraceEvent[], f: PanelFilter): number[] {
  const out: number[] = [];
  events.forEach((e, i) => {
    const hook = e.kind === 'hook' ? e.hook : undefined;
    if (f.kinds?.length && !f.kinds.includes(e.kind)) return;
    if (f.hooks?.length && (!hook || !f.hooks.includes(hook))) return;
    if (f.categories?.length && (!hook || !f.categories.includes((e as HookEvent).category ?? hookCategory(hook)))) return;
    if (f.pid !== undefined && e.pid !== f.pid && e.tgid !== f.pid) return;
    if (f.deniedOnly && !(e.kind === 'hook' && (e.ret ?? 0) < 0)) return;
    if (f.text) {
      const t = f.text.toLowerCase();
      const fields = [e.comm, hook, 'syscall' in e ? e.syscall : undefined, hook ? ((e as HookEvent).category ?? hookCategory(hook)) : undefined];
      const values = e.kind === 'hook' || e.kind === 'syscall_enter' ? leaves(e.args) : e.kind === 'syscall_exit' ? [String(e.ret)]
        : e.kind === 'process' ? [e.what, ...(e.filename !== undefined ? [e.filename] : [])] : [e.where];
      if (![...fields, ...values].some((s) => s !== undefined && s.toLowerCase().includes(t))) return;
    }
    out.push(i);
  });
  return out;
}

function shownEvents(m: PanelModel): number[] {
  return m.window(0, m.rowCount).flatMap((r) => (r.type === 'event' ? [r.index] : []));
}

const events = syntheticSession({ events: 20_000, seed: 3 }).next(20_000);

describe('panel model', () => {
  it('stores every event and gives each back as it came (for details and export)', () => {
    const m = model(events);
    assert.equal(m.size, events.length);
    for (const i of [0, 1, 2, 3, 777, 12_345, events.length - 1]) {
      const expected = { ...events[i] } as Record<string, unknown>;
      const back = m.event(i, false) as unknown as Record<string, unknown>;
      if (expected.kind === 'hook' && expected.category === undefined) expected.category = hookCategory(expected.hook as string);
      assert.deepEqual(back, expected, `event ${i}`);
    }
    assert.equal(m.event(5).seq, 5);
  });

  const filters: Array<[string, PanelFilter]> = [
    ['one hook', { hooks: ['file_open'] }],
    ['two hooks', { hooks: ['file_open', 'task_kill'] }],
    ['a hook that never ran', { hooks: ['sb_mount'] }],
    ['category', { categories: ['inode'] }],
    ['pid (thread or process)', { pid: events[100].tgid }],
    ['denied only', { deniedOnly: true }],
    ['text in a nested argument', { text: 'PASSWD' }],
    ['text in a number', { text: '443' }],
    ['text in comm', { text: 'curl' }],
    ['text in a hook name', { text: 'bprm_' }],
    ['kinds', { kinds: ['syscall_exit', 'process'] }],
    ['everything at once', { hooks: ['file_open', 'file_permission'], text: 'lib', pid: events[100].tgid }],
  ];
  for (const [label, f] of filters) {
    it(`filters like the reference: ${label}`, () => {
      const m = model(events);
      m.setFilter(f);
      const expected = reference(events, f);
      assert.deepEqual(shownEvents(m), expected);
      assert.equal(m.matchCount, expected.length);
      if (label !== 'a hook that never ran') assert.ok(expected.length > 0, 'the fixture should exercise this filter');
    });
  }

  it('applies the current filter to batches that arrive later, without a rescan', () => {
    const m = new PanelModel();
    const f: PanelFilter = { text: 'passwd', hooks: ['file_open', 'inode_permission', 'file_permission'] };
    m.setFilter(f);
    for (let i = 0; i < events.length; i += 500) m.append(events.slice(i, i + 500));
    assert.deepEqual(shownEvents(m), reference(events, f));
  });

  it('counts events per hook incrementally, with matching and denied counts', () => {
    const m = model(events);
    m.setFilter({ pid: events[0].tgid });
    const hist = m.histogram();
    const totals = new Map<string, number>();
    const denied = new Map<string, number>();
    const matching = new Map<string, number>();
    for (const e of events) {
      if (e.kind !== 'hook') continue;
      totals.set(e.hook, (totals.get(e.hook) ?? 0) + 1);
      if ((e.ret ?? 0) < 0) denied.set(e.hook, (denied.get(e.hook) ?? 0) + 1);
      if (e.pid === events[0].tgid || e.tgid === events[0].tgid) matching.set(e.hook, (matching.get(e.hook) ?? 0) + 1);
    }
    assert.equal(hist.length, totals.size);
    for (const h of hist) {
      assert.equal(h.total, totals.get(h.hook), h.hook);
      assert.equal(h.denied, denied.get(h.hook) ?? 0, h.hook);
      assert.equal(h.matching, matching.get(h.hook) ?? 0, h.hook);
    }
    assert.ok(hist.every((h, i) => i === 0 || hist[i - 1].total >= h.total), 'most frequent first');
  });

  it('nests hook calls under their syscall, with the syscall return value on the group', () => {
    const base = { cpu: 0, pid: 42, tgid: 42, comm: 'cat' };
    const session: TraceEvent[] = [
      { ...base, time: 1, kind: 'syscall_enter', syscall: 'openat', nr: 257, args: [1, 2, 3] },
      { ...base, time: 2, kind: 'hook', hook: 'inode_permission', syscall: 'openat', args: { mask: 'MAY_READ' }, ret: 0 },
      { ...base, time: 3, pid: 43, kind: 'hook', hook: 'task_kill', syscall: 'kill', args: { sig: 9 }, ret: 0 },
      { ...base, time: 4, kind: 'hook', hook: 'file_open', syscall: 'openat', args: { file: { path: '/etc/shadow' } }, ret: -13 },
      { ...base, time: 5, kind: 'syscall_exit', syscall: 'openat', nr: 257, ret: -13 },
      { ...base, time: 6, kind: 'process', what: 'exit', exitCode: 1 },
    ];
    const m = model(session, 2);
    m.setGrouping('syscall');
    const rows = m.window(0, 100);
    const shape = rows.map((r) => (r.type === 'group' ? `${r.group.label}@${r.group.pid}:${r.count}:${r.denied}:${r.group.ret}` : `${r.depth}:${r.index}`));
    assert.deepEqual(shape, ['openat@42:4:1:-13', '1:0', '1:1', '1:3', '1:4', 'kill@43:1:0:undefined', '1:2', '0:5']);
    const g = m.syscallGroupOf(3)!;
    assert.deepEqual(g.enterArgs, [1, 2, 3]);
    assert.deepEqual(m.eventsOfSyscall(g.id, 10), [0, 1, 3, 4]);

    m.toggleGroup(0, false);
    assert.deepEqual(m.window(0, 100).map((r) => (r.type === 'group' ? `g${r.group.id}` : r.index)), ['g0', 'g1', 2, 5]);
    m.setFilter({ hooks: ['task_kill'] });
    assert.deepEqual(m.window(0, 100).map((r) => (r.type === 'group' ? `g${r.group.id}` : r.index)), ['g1', 2]);
  });

  it('groups by process, in order of first appearance, and finds an event\'s row', () => {
    const m = model(events);
    m.setGrouping('process');
    const rows = m.window(0, m.rowCount);
    const groups = rows.filter((r): r is Extract<ViewRow, { type: 'group' }> => r.type === 'group');
    const tgids = [...new Set(events.filter((e) => e.kind !== 'drops').map((e) => e.tgid))];
    assert.deepEqual(groups.map((g) => g.group.tgid), tgids);
    assert.equal(groups.reduce((a, g) => a + g.count, 0), events.length);
    for (const g of groups.slice(0, 3)) {
      const members = events.flatMap((e, i) => (e.tgid === g.group.tgid ? [i] : []));
      const at = rows.indexOf(g);
      assert.deepEqual(rows.slice(at + 1, at + 1 + members.length).map((r) => (r.type === 'event' ? r.index : -1)), members);
    }
    const row = m.rowOfEvent(1234);
    assert.equal((m.window(row, 1)[0] as { index: number }).index, 1234);
  });

  it('keeps drop totals per hop and shows them as rows', () => {
    const m = new PanelModel();
    m.append([
      { kind: 'drops', where: 'kernel', count: 120, time: 1, pid: 0, tgid: 0, comm: '' },
      { kind: 'drops', where: 'helper', count: 3, time: 2, pid: 0, tgid: 0, comm: '' },
      { kind: 'drops', where: 'kernel', count: 5, time: 3, pid: 0, tgid: 0, comm: '' },
    ]);
    assert.deepEqual(m.drops, { kernel: 125, helper: 3, client: 0, panel: 0 });
    assert.equal(m.totalDrops, 128);
    const row = m.panelRows(1, 1)[0];
    assert.equal(row.type === 'event' ? row.summary : row.type, '3 events dropped by the helper');
    assert.deepEqual(m.event(1, false), { kind: 'drops', where: 'helper', count: 3, time: 2, pid: 0, tgid: 0, comm: '' });
  });

  it('renders rows: time relative to the first event, errno names, denials, summaries', () => {
    const m = model(events);
    const denied = events.findIndex((e) => e.kind === 'hook' && (e.ret ?? 0) < 0);
    const row = m.panelRows(denied, 1)[0];
    assert.equal(row.type, 'event');
    if (row.type !== 'event') return;
    assert.equal(row.denied, true);
    assert.match(row.ret, /^-(1 EPERM|13 EACCES)$/);
    assert.equal(row.time, ((events[denied].time - events[0].time) / 1e9).toFixed(6));
    assert.equal(formatRet(-13), '-13 EACCES');
    assert.equal(summarizeArgs({ file: { path: '/etc/passwd', ino: 5 }, mask: 'MAY_READ' }), 'file=/etc/passwd mask=MAY_READ');
    assert.equal(summarizeArgs({ sock: { family: 'AF_INET', type: 'SOCK_STREAM' } }), 'sock={family=AF_INET type=SOCK_STREAM}');
  });

  it('clear empties the session but keeps the filter', () => {
    const m = model(events);
    m.setFilter({ hooks: ['file_open'] });
    m.clear();
    assert.equal(m.size, 0);
    assert.equal(m.rowCount, 0);
    assert.deepEqual(m.histogram(), []);
    m.append(events.slice(0, 2000));
    assert.deepEqual(shownEvents(m), reference(events.slice(0, 2000), { hooks: ['file_open'] }));
  });

  it('accepts saved-session lines only when they are trace events', () => {
    for (const e of events.slice(0, 50)) assert.ok(isTraceEvent(JSON.parse(JSON.stringify(e))));
    const bad = [
      null, 1, 'x', {}, { kind: 'hook', time: 1, pid: 1, tgid: 1, comm: 'a' },
      { kind: 'hook', time: 1, pid: 1, tgid: 1, comm: 'a', hook: 'file_open', args: [] },
      { kind: 'hook', time: '1', pid: 1, tgid: 1, comm: 'a', hook: 'file_open', args: {} },
      { kind: 'hook', time: 1, pid: 1, tgid: 1, comm: 'a', hook: 'file_open', args: {}, source: { file: 1, line: 2 } },
      { kind: 'drops', time: 1, pid: 1, tgid: 1, comm: 'a', where: 'elsewhere', count: 1 },
      { kind: 'process', time: 1, pid: 1, tgid: 1, comm: 'a', what: 'spawn' },
      { kind: 'syscall_enter', time: 1, pid: 1, tgid: 1, comm: 'a', syscall: 'read', nr: 0, args: ['x'] },
      { kind: 'unknown', time: 1, pid: 1, tgid: 1, comm: 'a' },
    ];
    for (const b of bad) assert.equal(isTraceEvent(b), false, JSON.stringify(b));
  });
});
