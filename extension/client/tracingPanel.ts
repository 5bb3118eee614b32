// Feature: the tracing panel, where users look at what the kernel did during a trace session.
// Commands: bpfLsm.showTracingPanel, bpfLsm.openTraceSession, bpfLsm.exportTraceSession, and the test-only
// bpfLsm._panelTest (registered only when BPF_LSM_TEST is set or VS Code runs extension tests).
// Test-only operations: state, rendered, post, rows, reveal, start, append, drops, end (see registerTestCommand).
// Virtual documents: `bpf-lsm-hook:/<hook>.h`, the reference of a hook (signature, return rule, kernel docs).
//
// Lifetimes: the TracingPanel (one per window) owns the trace session's events and lives as long as the
// extension; the webview is only a view of it. Closing the tab keeps the session, so a live trace keeps
// recording and Show Tracing Panel brings it back. The webview is not retained while hidden: it sends
// `ready` when VS Code recreates it and gets the state again, which costs nothing because the events stay
// here (see extension/shared/panelModel.ts for why the store lives on the host).
//
// Live traces call: TracingPanel.show(studio) -> startSession(info) -> append(batch)* / reportDrops(where, n)
// -> endSession(summary). Batches are coalesced: the webview gets at most one update per FLUSH_MS.
import * as vscode from 'vscode';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { basename, isAbsolute } from 'node:path';
import { release } from 'node:os';
import { COMMANDS } from '../shared/commands';
import { Studio } from './studio';
import { DropSite, PanelModel, formatRet, isTraceEvent } from '../shared/panelModel';
import type { DropEvent, TraceEvent } from '../shared/traceEvent';
import {
  HostToWebview, PANEL_PROTOCOL_VERSION, PanelState, RenderedPanel, RowsMessage, SessionState, SyscallContext, WebviewToHost,
  isWebviewMessage,
} from '../shared/panelProtocol';
import { catalogFromFile, hookSignature, HookCatalog } from '../shared/hooks/catalog';
import { findHookDocs } from '../shared/hooks/docs';
import { bpfProgStub, secLine } from '../shared/hooks/stub';

/** How often, at most, the webview hears about new events. */
const FLUSH_MS = 50;
/** Saved sessions are read and ingested in batches of this many events, yielding in between. */
const READ_BATCH = 10_000;
const HOOK_SCHEME = 'bpf-lsm-hook';
const TEST_COMMAND = 'bpfLsm._panelTest';

export interface TraceSessionInfo {
  /** Shown in the panel's title bar: the traced command, or the saved file's name. */
  readonly title: string;
  /** Target, arguments, or anything else worth a line under the title. */
  readonly detail?: string;
  /** Where relative `source.file` paths of hook events are resolved first (then each workspace folder). */
  readonly sourceRoot?: vscode.Uri;
}

export interface TraceSessionSummary {
  /** Replaces the detail line: exit status, event count, duration. */
  readonly detail?: string;
}

interface PendingQuery {
  resolve(r: RenderedPanel): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class TracingPanel implements vscode.Disposable {
  private static instance: TracingPanel | undefined;

  /** Opens (or reveals) the panel of this window; the session it shows survives closing the tab. */
  static show(studio: Studio, options: { preserveFocus?: boolean } = {}): TracingPanel {
    TracingPanel.instance ??= new TracingPanel(studio);
    TracingPanel.instance.reveal(options.preserveFocus ?? false);
    return TracingPanel.instance;
  }

  static get current(): TracingPanel | undefined {
    return TracingPanel.instance;
  }

  readonly model = new PanelModel();
  private view: vscode.WebviewPanel | undefined;
  private viewDisposables: vscode.Disposable[] = [];
  private title = 'No trace session';
  private detail = '';
  private state: SessionState = 'empty';
  private sourceRoot: vscode.Uri | undefined;
  private paused = false;
  private held: TraceEvent[][] = [];
  private heldCount = 0;
  private follow = true;
  private viewport = { first: 0, count: 60 };
  private flushTimer: NodeJS.Timeout | undefined;
  /** Grows when a flush is expensive (tree modes rebuild rows over the whole session), so updates never hog the host. */
  private flushInterval = FLUSH_MS;
  private sentVersion = -1;
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingQuery>();
  /** Bumped per session so a saved file still being read stops when another session starts. */
  private generation = 0;

  private constructor(private readonly studio: Studio) {}

  // ---- the API for live traces ----

  /** Starts a new session: previous events are dropped, pause is lifted, the view follows the tail. */
  startSession(info: TraceSessionInfo, state: SessionState = 'live'): void {
    this.generation++;
    this.model.clear();
    this.title = info.title;
    this.detail = info.detail ?? '';
    this.sourceRoot = info.sourceRoot;
    this.state = state;
    this.paused = false;
    this.held = [];
    this.heldCount = 0;
    this.follow = true;
    this.sentVersion = -1;
    this.scheduleFlush();
  }

  /** One batch of decoded events, in arrival order. Held (not lost) while the user has paused the view. */
  append(events: readonly TraceEvent[]): void {
    if (events.length === 0) return;
    if (this.paused) {
      this.held.push(events.slice());
      this.heldCount += events.length;
    } else {
      this.model.append(events);
    }
    this.scheduleFlush();
  }

  /**
   * Events lost on the way (kernel ring buffer full, helper or client queue overflow): `count` is the
   * number lost since the previous report from that hop (a delta, not a running total). Never held.
   */
  reportDrops(where: DropSite, count: number): void {
    if (count <= 0) return;
    const last = this.model.size > 0 ? this.model.timeOf(this.model.size - 1) : 0;
    const drop: DropEvent = { kind: 'drops', where, count, time: last, pid: 0, tgid: 0, comm: '' };
    this.model.append([drop]);
    this.scheduleFlush();
  }

  /** The traced program exited or the trace was stopped; events stay for browsing and export. */
  endSession(summary: TraceSessionSummary = {}): void {
    if (summary.detail !== undefined) this.detail = summary.detail;
    this.state = 'ended';
    this.scheduleFlush();
  }

  /** Removes every event of the session (the session itself goes on). */
  clear(): void {
    this.model.clear();
    this.held = [];
    this.heldCount = 0;
    this.sentVersion = -1;
    this.scheduleFlush();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  // ---- saved sessions ----

  /** Re-opens a saved session (JSON lines of TraceEvent). Malformed lines are skipped and counted. */
  async openFile(uri: vscode.Uri): Promise<{ events: number; skipped: number }> {
    this.startSession({ title: basename(uri.path), detail: `reading ${uri.scheme === 'file' ? uri.fsPath : uri.toString()}`, sourceRoot: vscode.Uri.joinPath(uri, '..') }, 'saved');
    const generation = this.generation;
    let batch: TraceEvent[] = [];
    let skipped = 0;
    const take = (line: string): void => {
      if (!line.trim()) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        skipped++;
        return;
      }
      if (isTraceEvent(parsed)) {
        delete (parsed as { seq?: number }).seq;
        batch.push(parsed);
      } else skipped++;
    };
    const push = async (): Promise<void> => {
      this.model.append(batch);
      batch = [];
      this.scheduleFlush();
      // Let the extension host breathe (and the webview paint progress) between batches.
      await new Promise((r) => setImmediate(r));
    };
    if (uri.scheme === 'file') {
      const lines = createInterface({ input: createReadStream(uri.fsPath, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of lines) {
        if (generation !== this.generation) {
          lines.close();
          break;
        }
        take(line);
        if (batch.length >= READ_BATCH) await push();
      }
    } else {
      const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
      for (const line of text.split('\n')) {
        take(line);
        if (batch.length >= READ_BATCH) await push();
      }
    }
    if (generation !== this.generation) return { events: 0, skipped };
    if (batch.length) await push();
    const events = this.model.size;
    this.detail = `${events.toLocaleString('en-US')} events from ${uri.scheme === 'file' ? uri.fsPath : uri.toString()}` +
      (skipped ? `; ${skipped} malformed line${skipped === 1 ? '' : 's'} skipped` : '');
    this.viewport = { ...this.viewport, first: 0 };
    this.revealRow(0, false);
    return { events, skipped };
  }

  /** Writes the whole session as JSON lines, held events included. */
  async exportTo(uri: vscode.Uri): Promise<number> {
    const model = this.model;
    const lines = function* (): Generator<string> {
      const chunk: string[] = [];
      for (let i = 0; i < model.size; i++) {
        chunk.push(JSON.stringify(model.event(i, false)));
        if (chunk.length === 5000) yield `${chunk.splice(0).join('\n')}\n`;
      }
      if (chunk.length) yield `${chunk.join('\n')}\n`;
    };
    const heldLines = this.held.flat().map((e) => JSON.stringify(e));
    const tail = heldLines.length ? `${heldLines.join('\n')}\n` : '';
    if (uri.scheme === 'file') {
      const out = createWriteStream(uri.fsPath, { encoding: 'utf8' });
      for (const text of lines()) if (!out.write(text)) await once(out, 'drain');
      out.end(tail);
      await finished(out);
    } else {
      await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode([...lines()].join('') + tail));
    }
    return model.size + this.heldCount;
  }

  // ---- the view ----

  private reveal(preserveFocus: boolean): void {
    if (this.view) {
      this.view.reveal(undefined, preserveFocus);
      return;
    }
    const mediaRoot = vscode.Uri.joinPath(this.studio.context.extensionUri, 'dist', 'media');
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active;
    const view = vscode.window.createWebviewPanel('bpfLsm.tracingPanel', 'BPF-LSM Trace', { viewColumn: column, preserveFocus }, {
      enableScripts: true,
      localResourceRoots: [mediaRoot],
    });
    view.iconPath = new vscode.ThemeIcon('pulse');
    view.webview.html = this.html(view.webview, mediaRoot);
    this.viewDisposables.push(
      view.webview.onDidReceiveMessage((m: unknown) => {
        if (!isWebviewMessage(m)) {
          this.studio.output.warn(`tracing panel: ignored a malformed message from the webview`);
          return;
        }
        void this.handle(m).catch((err) => this.studio.output.error(`tracing panel: ${m.type}: ${err instanceof Error ? err.message : String(err)}`));
      }),
      view.onDidDispose(() => this.closeView()),
    );
    this.view = view;
  }

  private closeView(): void {
    this.view = undefined;
    for (const d of this.viewDisposables.splice(0)) d.dispose();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('the tracing panel was closed before it answered'));
      this.pending.delete(id);
    }
  }

  private html(webview: vscode.Webview, mediaRoot: vscode.Uri): string {
    const nonce = randomBytes(18).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot, 'panel.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot, 'panel.css'));
    const csp = [
      `default-src 'none'`,
      `style-src ${webview.cspSource}`,
      `font-src ${webview.cspSource}`,
      `img-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>BPF-LSM Trace</title>
</head>
<body>
<div id="root"></div>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }

  private post(message: HostToWebview): void {
    void this.view?.webview.postMessage(message);
  }

  private scheduleFlush(): void {
    if (this.flushTimer || !this.view) return;
    this.flushTimer = setTimeout(() => this.flush(), this.flushInterval);
  }

  private flush(): void {
    this.flushTimer = undefined;
    if (!this.view) return;
    const started = performance.now();
    const state = this.snapshot();
    if (this.follow) this.viewport.first = Math.max(0, state.rows - this.viewport.count);
    let window: RowsMessage | undefined;
    if (this.model.version !== this.sentVersion) {
      window = this.rowsMessage(this.viewport.first, this.viewport.count);
      this.sentVersion = this.model.version;
    }
    this.post({ type: 'update', state, ...(window ? { window } : {}) });
    // At most a fifth of the host's time goes to updating the view, however big the session grows.
    this.flushInterval = Math.min(1000, Math.max(FLUSH_MS, (performance.now() - started) * 4));
  }

  private rowsMessage(first: number, count: number, requestId?: number): RowsMessage {
    const total = this.model.rowCount;
    const start = Math.max(0, Math.min(first, total - count));
    return { type: 'rows', ...(requestId !== undefined ? { requestId } : {}), version: this.model.version, first: start, total, rows: this.model.panelRows(start, count) };
  }

  /** Everything the toolbar shows; also what the test command reports. */
  snapshot(): PanelState {
    const m = this.model;
    return {
      protocol: PANEL_PROTOCOL_VERSION,
      title: this.title,
      state: this.state,
      detail: this.detail,
      total: m.size,
      matching: m.matchCount,
      rows: m.rowCount,
      paused: this.paused,
      held: this.heldCount,
      follow: this.follow,
      drops: { ...m.drops },
      histogram: m.histogram(),
      categories: m.categories(),
      filter: m.currentFilter,
      grouping: m.currentGrouping,
      version: m.version,
    };
  }

  /** Handles one message from the webview (also used by the test command to act as the webview). */
  async handle(m: WebviewToHost): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.sentVersion = -1;
        this.flushNow();
        return;
      case 'viewport':
        this.viewport = { first: Math.max(0, m.first), count: Math.max(1, Math.min(500, m.count)) };
        this.post(this.rowsMessage(this.viewport.first, this.viewport.count, m.requestId));
        return;
      case 'setFilter':
        this.model.setFilter(m.filter);
        this.scheduleFlush();
        return;
      case 'setGrouping':
        this.model.setGrouping(m.grouping);
        this.scheduleFlush();
        return;
      case 'toggleGroup':
        this.model.toggleGroup(m.group, m.expanded);
        this.scheduleFlush();
        return;
      case 'select':
        this.sendDetails(m.seq);
        return;
      case 'openSource':
        await this.openSource(m.seq, m.preserveFocus);
        return;
      case 'openHookDoc':
        await openHookReference(m.hook, this.otherColumn(), false);
        return;
      case 'setPaused':
        this.setPaused(m.paused);
        return;
      case 'setFollow':
        this.follow = m.follow;
        this.scheduleFlush();
        return;
      case 'action':
        await this.action(m.action);
        return;
      case 'queryResult': {
        const p = this.pending.get(m.requestId);
        if (!p) return;
        this.pending.delete(m.requestId);
        clearTimeout(p.timer);
        p.resolve(m.rendered);
        return;
      }
    }
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused && this.held.length) {
      for (const batch of this.held) this.model.append(batch);
      this.held = [];
      this.heldCount = 0;
    }
    this.scheduleFlush();
  }

  private async action(action: 'clear' | 'export' | 'openSession' | 'traceExecutable'): Promise<void> {
    if (action === 'clear') this.clear();
    else if (action === 'export') await vscode.commands.executeCommand(COMMANDS.exportTraceSession.id);
    else if (action === 'openSession') await vscode.commands.executeCommand(COMMANDS.openTraceSession.id);
    else await vscode.commands.executeCommand(COMMANDS.traceExecutable.id);
  }

  private sendDetails(seq: number): void {
    if (seq < 0 || seq >= this.model.size) return;
    const event = this.model.event(seq);
    const group = this.model.syscallGroupOf(seq);
    let context: SyscallContext | undefined;
    if (group) {
      const HOOKS_SHOWN = 50;
      const members = this.model.eventsOfSyscall(group.id, 10_000);
      const hooks = members.filter((i) => this.model.kindOf(i) === 'hook');
      context = {
        syscall: group.label,
        pid: group.pid,
        ...(group.enterArgs ? { enterArgs: group.enterArgs } : {}),
        ...(group.ret !== undefined ? { ret: formatRet(group.ret) } : {}),
        failed: group.ret !== undefined && group.ret < 0,
        hooks: hooks.slice(0, HOOKS_SHOWN).map((i) => {
          const e = this.model.event(i);
          const ret = e.kind === 'hook' && e.ret !== undefined ? formatRet(e.ret) : '';
          return { seq: i, hook: e.kind === 'hook' ? e.hook : '', ret, denied: this.model.isDenied(i) };
        }),
        moreHooks: Math.max(0, hooks.length - HOOKS_SHOWN),
      };
    }
    const src = this.model.sourceOf(seq);
    const ret = event.kind === 'hook' && event.ret !== undefined ? formatRet(event.ret) : event.kind === 'syscall_exit' ? formatRet(event.ret) : '';
    this.post({
      type: 'details',
      seq,
      event,
      ret,
      denied: this.model.isDenied(seq),
      ...(context ? { context } : {}),
      sourceLabel: src ? `${src.file}:${src.line}` : event.kind === 'hook' ? `reference of hook ${event.hook}` : '',
    });
  }

  private otherColumn(): vscode.ViewColumn {
    return this.view?.viewColumn === vscode.ViewColumn.One ? vscode.ViewColumn.Two : vscode.ViewColumn.One;
  }

  /**
   * The way back to code: the user's probe at the line of its SEC("lsm/...") program when the event says
   * where it came from, else the reference of the hook (the built-in tracer's events carry no source).
   */
  async openSource(seq: number, preserveFocus: boolean): Promise<vscode.Uri | undefined> {
    if (seq < 0 || seq >= this.model.size) return undefined;
    const src = this.model.sourceOf(seq);
    const event = this.model.event(seq);
    if (src) {
      const uri = await this.resolveSource(src.file);
      if (uri) {
        const doc = await vscode.workspace.openTextDocument(uri);
        const line = Math.max(0, Math.min(src.line - 1, doc.lineCount - 1));
        const range = new vscode.Range(line, 0, line, 0);
        const editor = await vscode.window.showTextDocument(doc, { viewColumn: this.otherColumn(), preserveFocus, selection: range });
        editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
        return uri;
      }
      void vscode.window.showWarningMessage(
        `BPF-LSM: the program's source ${src.file} was not found next to the session or in the workspace; showing the hook reference instead.`,
      );
    }
    if (event.kind === 'hook') return openHookReference(event.hook, this.otherColumn(), preserveFocus);
    void vscode.window.showInformationMessage('BPF-LSM: only hook events link to source; select a hook call inside this syscall.');
    return undefined;
  }

  private async resolveSource(file: string): Promise<vscode.Uri | undefined> {
    const candidates: vscode.Uri[] = [];
    if (isAbsolute(file)) candidates.push(vscode.Uri.file(file));
    else {
      if (this.sourceRoot) candidates.push(vscode.Uri.joinPath(this.sourceRoot, file));
      for (const f of vscode.workspace.workspaceFolders ?? []) candidates.push(vscode.Uri.joinPath(f.uri, file));
    }
    for (const uri of candidates) {
      try {
        await vscode.workspace.fs.stat(uri);
        return uri;
      } catch {
        // Not there; try the next place.
      }
    }
    return undefined;
  }

  /** Asks the webview what it renders (tests and automation). Rejected when the panel closes first. */
  queryRendered(timeoutMs = 10_000): Promise<RenderedPanel> {
    if (!this.view) return Promise.reject(new Error('the tracing panel is not open'));
    const requestId = this.nextRequestId++;
    return new Promise<RenderedPanel>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error(`the tracing panel's webview did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
      this.post({ type: 'query', requestId });
    });
  }

  /** Scrolls the webview to a row of the current view, optionally selecting it (details follow). */
  revealRow(row: number, select: boolean): void {
    this.follow = false;
    // The webview must know the current row count before it scrolls, or it clamps to a stale one.
    this.flushNow();
    this.post({ type: 'reveal', row, select });
  }

  private flushNow(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flush();
  }

  get isOpen(): boolean {
    return this.view !== undefined;
  }

  get viewColumn(): vscode.ViewColumn | undefined {
    return this.view?.viewColumn;
  }

  dispose(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.generation++;
    const view = this.view;
    this.closeView();
    view?.dispose();
    if (TracingPanel.instance === this) TracingPanel.instance = undefined;
  }
}

// ---- hook reference documents ----

let catalog: { value?: HookCatalog; docs?: Map<string, string>; error?: string } | undefined;

function loadCatalog(): NonNullable<typeof catalog> {
  if (catalog) return catalog;
  const config = vscode.workspace.getConfiguration('bpfLsm');
  const btf = config.get<string>('btfPath') || '/sys/kernel/btf/vmlinux';
  try {
    const value = catalogFromFile(btf);
    const docs = findHookDocs(config.get<string>('kernelSourcePath') || undefined, release(), new Set(value.hooks.map((h) => h.name))).docs;
    catalog = { value, docs };
  } catch (err) {
    catalog = { error: err instanceof Error ? err.message : String(err) };
  }
  return catalog;
}

/** C text for `bpf-lsm-hook:/<hook>.h`: what a hover on the hook would say, as a read-only header. */
export function hookReferenceText(hook: string): string {
  const { value, docs, error } = loadCatalog();
  const safe = (text: string) => text.replace(/\*\//g, '* /');
  const h = value?.get(hook);
  if (!h) {
    const why = error ? `the hook catalog could not be read: ${error}` : `${value?.kernelLabel ?? 'this kernel'} has no LSM hook of that name`;
    return `/*\n * LSM hook ${safe(hook)}\n *\n * No reference available: ${safe(why)}.\n * Set bpfLsm.btfPath to the target kernel's BTF to see its signature.\n */\n`;
  }
  const rule = h.returnRule === 'errno'
    ? 'int: 0 allows, a negative errno (-EPERM, -EACCES) denies'
    : h.returnRule === 'bool' ? 'bool-like int: the kernel reads the value as yes/no' : 'void: the return value is ignored, this hook cannot deny';
  const doc = h.doc ?? docs?.get(hook);
  const lines = [
    `/*`,
    ` * LSM hook ${h.name}   (category ${h.category}, ${value!.kernelLabel})`,
    ` *`,
    ` * Returns: ${rule}.`,
    ` * Sleepable: ${h.sleepable ? 'yes, SEC("lsm.s/...") programs may use sleepable helpers' : 'no'}.`,
    ...(h.disabled ? [` * Disabled: BPF programs cannot attach to this hook on this kernel.`] : []),
  ];
  if (doc) lines.push(' *', ' * Kernel documentation:', ...safe(doc).split('\n').map((l) => ` *   ${l}`.trimEnd()));
  lines.push(' */', `${hookSignature(h)};`, '', '/* A BPF-LSM program on this hook: */', secLine(h), bpfProgStub(h), '');
  return lines.join('\n');
}

async function openHookReference(hook: string, column: vscode.ViewColumn, preserveFocus: boolean): Promise<vscode.Uri> {
  const uri = vscode.Uri.from({ scheme: HOOK_SCHEME, path: `/${hook}.h` });
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.languages.setTextDocumentLanguage(doc, 'c');
  await vscode.window.showTextDocument(doc, { viewColumn: column, preserveFocus, preview: true });
  return uri;
}

// ---- commands ----

async function pickSavedSession(): Promise<vscode.Uri | undefined> {
  const files = await vscode.workspace.findFiles('**/*.jsonl', '**/node_modules/**', 200);
  const browse = { label: '$(folder-opened) Browse…', description: 'choose a file', uri: undefined as vscode.Uri | undefined };
  const items = [
    ...files.map((uri) => ({ label: `$(pulse) ${basename(uri.path)}`, description: vscode.workspace.asRelativePath(uri, true), uri })),
    browse,
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'BPF-LSM: Open Saved Trace Session', placeHolder: 'A trace session saved as JSON lines (.jsonl)', matchOnDescription: true });
  if (!picked) return undefined;
  if (picked.uri) return picked.uri;
  const chosen = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Trace sessions': ['jsonl'], 'All files': ['*'] }, title: 'Open Saved Trace Session' });
  return chosen?.[0];
}

function asUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string' && arg) return isAbsolute(arg) ? vscode.Uri.file(arg) : vscode.Uri.parse(arg);
  return undefined;
}

export function registerTracingPanel(studio: Studio): void {
  studio.own(
    vscode.workspace.registerTextDocumentContentProvider(HOOK_SCHEME, {
      provideTextDocumentContent: (uri) => hookReferenceText(basename(uri.path).replace(/\.h$/, '')),
    }),
    { dispose: () => TracingPanel.current?.dispose() },
  );

  studio.command('showTracingPanel', () => {
    TracingPanel.show(studio);
  });

  studio.command('openTraceSession', async (arg?: unknown) => {
    const uri = asUri(arg) ?? (await pickSavedSession());
    if (!uri) return undefined;
    const panel = TracingPanel.show(studio);
    const result = await panel.openFile(uri);
    studio.log(`tracing panel: opened ${uri.toString()}: ${result.events} events, ${result.skipped} malformed lines skipped`);
    if (result.skipped) {
      void vscode.window.showWarningMessage(`BPF-LSM: ${result.skipped} line(s) of ${basename(uri.path)} are not trace events and were skipped.`);
    }
    return result;
  });

  studio.command('exportTraceSession', async (arg?: unknown) => {
    const panel = TracingPanel.current;
    if (!panel || panel.model.size === 0) {
      void vscode.window.showInformationMessage('BPF-LSM: there is no trace session to export. Run Trace Executable or open a saved session first.');
      return undefined;
    }
    let uri = asUri(arg);
    if (!uri) {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const name = `trace-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`;
      uri = await vscode.window.showSaveDialog({
        title: 'Export Trace Session',
        filters: { 'Trace sessions': ['jsonl'] },
        ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
      });
      if (!uri) return undefined;
    }
    const count = await panel.exportTo(uri);
    studio.log(`tracing panel: exported ${count} events to ${uri.toString()}`);
    void vscode.window.showInformationMessage(`BPF-LSM: exported ${count.toLocaleString('en-US')} events to ${basename(uri.path)}.`);
    return { events: count, uri: uri.toString() };
  });

  if (process.env.BPF_LSM_TEST || studio.context.extensionMode === vscode.ExtensionMode.Test) registerTestCommand(studio);
}

/**
 * Lets the e2e suites see and drive the panel from the extension host: `state` (the host's view),
 * `rendered` (what the webview shows, asked over the protocol), `post` (act as the webview would),
 * `activeEditor` (where a source link landed). Never registered for users.
 */
function registerTestCommand(studio: Studio): void {
  studio.own(
    vscode.commands.registerCommand(TEST_COMMAND, async (op: string, arg?: unknown) => {
      const panel = TracingPanel.current;
      switch (op) {
        case 'state':
          return panel ? { ...panel.snapshot(), open: panel.isOpen } : undefined;
        case 'rendered':
          if (!panel) throw new Error('the tracing panel was never shown');
          return panel.queryRendered();
        case 'post':
          if (!panel) throw new Error('the tracing panel was never shown');
          if (!isWebviewMessage(arg)) throw new Error(`not a webview message: ${JSON.stringify(arg)}`);
          await panel.handle(arg);
          return { ...panel.snapshot(), open: panel.isOpen };
        case 'rows': {
          if (!panel) throw new Error('the tracing panel was never shown');
          const { first, count } = arg as { first: number; count: number };
          return panel.model.panelRows(first, count);
        }
        case 'reveal': {
          if (!panel) throw new Error('the tracing panel was never shown');
          const { row, select } = arg as { row: number; select: boolean };
          panel.revealRow(row, select);
          return undefined;
        }
        // The live-trace integration's calls, one by one, as the trace stream will make them.
        case 'start':
          TracingPanel.show(studio, { preserveFocus: true }).startSession(arg as TraceSessionInfo);
          return undefined;
        case 'append':
          if (!panel) throw new Error('no session: call start first');
          panel.append(arg as TraceEvent[]);
          return undefined;
        case 'drops': {
          if (!panel) throw new Error('no session: call start first');
          const { where, count } = arg as { where: DropSite; count: number };
          panel.reportDrops(where, count);
          return undefined;
        }
        case 'end':
          panel?.endSession(arg as TraceSessionSummary);
          return undefined;
        default:
          throw new Error(`unknown ${TEST_COMMAND} operation "${op}"`);
      }
    }),
  );
}
