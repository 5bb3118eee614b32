// The tracing panel inside real VS Code: a recorded session opens into the webview, rows render (only the
// visible ones), a hook filter narrows them, a click lands on the probe's SEC() line, events without a
// source open the hook reference, the live-trace API (batches, drops, pause) reaches the webview, and a
// session survives export and re-open. What the webview shows is asked over the panel's own protocol.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { readFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { COMMANDS } from '../../extension/shared/commands';
import type { PanelState, RenderedPanel, PanelRow, WebviewToHost } from '../../extension/shared/panelProtocol';
import type { TraceEvent } from '../../extension/shared/traceEvent';
import { extensionUnderTest, waitFor } from './util';
import { syntheticSession } from '../fixtures/sessions/synthetic';
import { headerComment, plainText } from '../../extension/shared/hooks/reference';

const root = join(__dirname, '..', '..', '..');
const sessions = join(root, 'test', 'fixtures', 'sessions');
const demoPath = join(sessions, 'demo.jsonl');
const demo = readFileSync(demoPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as TraceEvent);
const probeLines = readFileSync(join(sessions, 'probes', 'exec_guard.bpf.c'), 'utf8').split('\n');

type State = PanelState & { open: boolean };
const test = <T>(op: string, arg?: unknown) => vscode.commands.executeCommand<T>('bpfLsm._panelTest', op, arg);
const state = () => test<State | undefined>('state');
const rendered = () => test<RenderedPanel>('rendered');
const post = (m: WebviewToHost) => test<State>('post', m);

/** Waits until the webview shows rows of the host's current version that satisfy `check`. */
async function renderedWhen(check: (r: RenderedPanel) => boolean, what: string): Promise<RenderedPanel> {
  let last: RenderedPanel | undefined;
  try {
    return await waitFor(async () => {
      last = await rendered();
      return check(last) ? last : undefined;
    }, what);
  } catch (err) {
    const seen = last ? { ...last, rows: last.rows.slice(0, 3), details: last.details.slice(0, 80) } : 'nothing';
    throw new Error(`${(err as Error).message}; the webview last showed ${JSON.stringify(seen)}`);
  }
}

describe('tracing panel', () => {
  before(async () => {
    await extensionUnderTest().activate();
  });

  it('opens with an empty state that says how to start', async () => {
    await vscode.commands.executeCommand(COMMANDS.showTracingPanel.id);
    const s = await waitFor(async () => {
      const now = await state();
      return now?.open ? now : undefined;
    }, 'the panel to open');
    if (s.total === 0) {
      const r = await renderedWhen((x) => x.emptyStateVisible, 'the empty state');
      assert.equal(r.rowsInDom, 0);
    }
  });

  it('re-opens a recorded session and renders only the visible rows', async () => {
    const result = await vscode.commands.executeCommand<{ events: number; skipped: number }>(COMMANDS.openTraceSession.id, vscode.Uri.file(demoPath));
    assert.deepEqual(result, { events: demo.length, skipped: 0 });
    const s = (await state())!;
    assert.equal(s.state, 'saved');
    assert.equal(s.total, demo.length);
    const r = await renderedWhen((x) => x.rowsInDom > 5 && x.rows.every((row) => row.seq !== undefined), 'rows in the webview');
    assert.ok(r.rowsInDom < 200, `virtualized: ${r.rowsInDom} rows in the DOM for ${demo.length} events`);
    assert.equal(r.emptyStateVisible, false);
    // What the webview shows is what the session holds, row for row.
    const first = r.rows[0].seq!;
    const rows = await test<PanelRow[]>('rows', { first, count: 3 });
    for (let k = 0; k < 3; k++) {
      const row = rows[k];
      assert.equal(row.type, 'event');
      if (row.type !== 'event') continue;
      assert.equal(r.rows[k].seq, row.seq);
      assert.equal(r.rows[k].cells[0], row.time);
      assert.equal(r.rows[k].cells[1], `${row.pid} ${row.comm}`);
      assert.equal(demo[row.seq].comm, row.comm);
    }
    const hooks = new Set(demo.flatMap((e) => (e.kind === 'hook' ? [e.hook] : [])));
    assert.equal(r.histogram.length, hooks.size);
  });

  it('filters by hook: the count, the histogram and every rendered row agree', async () => {
    const expected = demo.filter((e) => e.kind === 'hook' && e.hook === 'bprm_check_security').length;
    assert.ok(expected > 0);
    const s = await post({ type: 'setFilter', filter: { hooks: ['bprm_check_security'] } });
    assert.equal(s.matching, expected);
    const r = await renderedWhen(
      (x) => x.rowsInDom === Math.min(expected, x.rowsInDom) && x.rowsInDom > 0 && x.rows.every((row) => row.cells[3] === 'bprm_check_security'),
      'only bprm_check_security rows',
    );
    assert.ok(r.rows.length > 0);
    const bar = r.histogram.find((l) => l.startsWith('bprm_check_security:'));
    assert.ok(bar, `histogram: ${r.histogram.join(' | ')}`);
  });

  it('a click on an event lands on the SEC() line of the program that emitted it', async () => {
    const r = await rendered();
    const seq = r.rows.find((row) => row.seq !== undefined)!.seq!;
    const event = demo[seq];
    assert.equal(event.kind, 'hook');
    if (event.kind !== 'hook' || !event.source) throw new Error('the demo session gives bprm_check_security events a source');
    await post({ type: 'openSource', seq, preserveFocus: false });
    const editor = await waitFor(() => {
      const e = vscode.window.activeTextEditor;
      return e?.document.uri.path.endsWith('/probes/exec_guard.bpf.c') ? e : undefined;
    }, 'the probe source to open');
    assert.equal(editor.selection.active.line, event.source.line - 1);
    assert.equal(editor.document.lineAt(editor.selection.active.line).text, 'SEC("lsm/bprm_check_security")');
    assert.equal(probeLines[event.source.line - 1], 'SEC("lsm/bprm_check_security")');
  });

  it('an event without a source opens the hook reference', async () => {
    await post({ type: 'setFilter', filter: { hooks: ['socket_connect'] } });
    const seq = demo.findIndex((e) => e.kind === 'hook' && e.hook === 'socket_connect');
    assert.ok(seq >= 0);
    await post({ type: 'openSource', seq, preserveFocus: false });
    const editor = await waitFor(() => {
      const e = vscode.window.activeTextEditor;
      return e?.document.uri.scheme === 'bpf-lsm-hook' ? e : undefined;
    }, 'the hook reference to open');
    assert.equal(editor.document.uri.path, '/socket_connect.h');
    const text = editor.document.getText();
    assert.match(text, /LSM hook socket_connect/);
    if (existsSync('/sys/kernel/btf/vmlinux')) {
      // From this machine's BTF: the kernel's own signature, and a program stub for the hook.
      assert.match(text, /^int socket_connect\(struct socket \*sock, struct sockaddr \*address, int addrlen\);$/m);
      assert.match(text, /^SEC\("lsm\/socket_connect"\)$/m);
    }
  });

  it("the hook reference says what hover says, from the language server, for the same hook and kernel", async function () {
    this.timeout(240_000);
    const hook = 'bprm_check_security';
    const source = `SEC("lsm/${hook}")\nint BPF_PROG(guard, struct linux_binprm *bprm)\n{\n\treturn 0;\n}\n`;
    const doc = await vscode.workspace.openTextDocument({ language: 'c', content: source });
    const at = new vscode.Position(0, 'SEC("lsm/'.length + 2);
    // Until the server has started and, on a fresh cache, the kernel's documentation has arrived.
    const hover = await waitFor(async () => {
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, at);
      const text = hovers?.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n') ?? '';
      return text.includes(`LSM hook \`${hook}\``) && !/being fetched/.test(text) ? text : undefined;
    }, 'a hover on the hook name', 180_000);
    await post({ type: 'openHookDoc', hook });
    const editor = await waitFor(() => {
      const e = vscode.window.activeTextEditor;
      return e?.document.uri.scheme === 'bpf-lsm-hook' && e.document.uri.path === `/${hook}.h` ? e : undefined;
    }, 'the hook reference to open');
    const reference = editor.document.getText();
    assert.match(reference, /^int bprm_check_security\(struct linux_binprm \*bprm\);$/m);
    assert.equal(headerComment(reference), plainText(hover), "the reference's comment is hover's text");
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('shows the selected event in full with its syscall context', async () => {
    await post({ type: 'setFilter', filter: {} });
    const seq = demo.findIndex((e) => e.kind === 'hook' && e.hook === 'file_open');
    await post({ type: 'select', seq });
    const event = demo[seq];
    if (event.kind !== 'hook') throw new Error('not a hook');
    const path = (event.args.file as { path: string }).path;
    const r = await renderedWhen((x) => x.details.includes(path), 'details with the file path');
    assert.equal(r.selectedSeq, seq);
    assert.match(r.details, /Syscall context/);
    assert.match(r.details, new RegExp(`thread ${event.pid}: ${event.syscall}\\(`));
    assert.match(r.details, /file_open/);
  });

  it('groups hook calls under their syscall and by process', async () => {
    let s = await post({ type: 'setGrouping', grouping: 'syscall' });
    assert.ok(s.rows > s.matching, 'group headers add rows');
    await renderedWhen((x) => x.rows.some((row) => row.group !== undefined), 'syscall group rows');
    s = await post({ type: 'setGrouping', grouping: 'process' });
    const r = await renderedWhen((x) => x.rows[0]?.group !== undefined && /process \d+: /.test(x.rows[0].cells[4]), 'process group rows');
    assert.match(r.rows[0].cells[4], /events/);
    await post({ type: 'toggleGroup', group: r.rows[0].group!, expanded: false });
    await renderedWhen((x) => x.rows[1]?.group !== undefined, 'the first process collapsed');
    await post({ type: 'setGrouping', grouping: 'none' });
  });

  it('takes live batches, holds them while paused, and says how many events were dropped where', async () => {
    await test('start', { title: 'live test', detail: 'synthetic' });
    const batch = demo.slice(0, 400);
    await test('append', batch);
    await waitFor(async () => (await state())?.total === 400, '400 events');
    await post({ type: 'setPaused', paused: true });
    await test('append', demo.slice(400, 500));
    let s = (await state())!;
    assert.equal(s.total, 400);
    assert.equal(s.held, 100);
    await post({ type: 'setPaused', paused: false });
    s = (await state())!;
    assert.equal(s.total, 500);
    await test('drops', { where: 'kernel', count: 1234 });
    await test('drops', { where: 'helper', count: 7 });
    const r = await renderedWhen((x) => x.dropBanner.includes('1,241'), 'the drop banner');
    assert.match(r.dropBanner, /1,234 by the kernel/);
    assert.match(r.dropBanner, /7 by the helper/);
    await test('end', { detail: 'exit 0' });
    assert.equal((await state())!.state, 'ended');
  });

  it('keeps up with a large live session: the tail follows and a filter reaches the screen promptly', async function () {
    this.timeout(240_000);
    // Past ~360k rows the list maps its scrollbar proportionally (a browser caps element heights).
    const TOTAL = 400_000;
    const BATCH = 3_000;
    await test('start', { title: 'large live session' });
    const source = syntheticSession({ events: TOTAL, seed: 9 });
    const started = Date.now();
    for (let n = 0; n < TOTAL; n += BATCH) await test('append', source.next(BATCH));
    const appendMs = Date.now() - started;
    const r = await renderedWhen((x) => x.rows.some((row) => row.seq === TOTAL - 1), 'the newest event at the tail');
    const tailMs = Date.now() - started;
    assert.ok(r.rowsInDom < 200, `virtualized: ${r.rowsInDom} rows in the DOM`);
    const filtered = Date.now();
    const s = await post({ type: 'setFilter', filter: { hooks: ['task_kill'] } });
    await renderedWhen((x) => x.rowsInDom > 0 && x.rows.every((row) => row.cells[3] === 'task_kill') && x.rows.some((row) => row.seq! > TOTAL - 20_000), 'the newest task_kill rows');
    const filterMs = Date.now() - filtered;
    console.log(`      ${TOTAL.toLocaleString('en-US')} live events in batches of ${BATCH}: ingested in ${appendMs} ms, tail on screen after ${tailMs} ms; ` +
      `hook filter (${s.matching.toLocaleString('en-US')} events) on screen in ${filterMs} ms`);
    await post({ type: 'setFilter', filter: {} });
    // Jump to the middle of the proportional scrollbar: that row is drawn and its details arrive.
    const middle = 234_567;
    await test('reveal', { row: middle, select: true });
    const shown = await renderedWhen((x) => x.rows.some((row) => row.seq === middle) && x.selectedSeq === middle, `row ${middle} on screen and selected`);
    assert.ok(shown.details.length > 0);
  });

  it('exports the session as JSON lines that re-open to the same events', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-panel-'));
    try {
      const out = vscode.Uri.file(join(dir, 'export.jsonl'));
      await vscode.commands.executeCommand(COMMANDS.openTraceSession.id, vscode.Uri.file(demoPath));
      const exported = await vscode.commands.executeCommand<{ events: number }>(COMMANDS.exportTraceSession.id, out);
      assert.equal(exported.events, demo.length);
      const lines = readFileSync(out.fsPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.length, demo.length);
      for (const i of [0, 1, 100, demo.length - 1]) {
        const { category: _c, ...got } = lines[i];
        const { category: _d, ...want } = demo[i] as TraceEvent & { category?: string };
        assert.deepEqual(got, want, `line ${i}`);
      }
      const again = await vscode.commands.executeCommand<{ events: number }>(COMMANDS.openTraceSession.id, out);
      assert.equal(again.events, demo.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
