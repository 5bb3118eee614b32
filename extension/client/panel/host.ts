// The tracing panel's host: the TracingPanel (one per window) owns the trace session's events and lives as
// long as the extension; the webview (media/panel.ts) is only a view of it. Closing the tab keeps the
// session, so a live trace keeps recording and Show Tracing Panel brings it back. The webview is not
// retained while hidden: it sends `ready` when VS Code recreates it and gets the state again, which costs
// nothing because the events stay here (see extension/shared/panel/store.ts for why the store lives on the
// host). Commands and wiring: tracingPanel.ts.
//
// Live traces call: TracingPanel.show(studio) -> startSession(info) -> append(batch)* / reportDrops(where, n)
// -> endSession(summary). Batches are coalesced: the webview gets at most one update per FLUSH_MS.
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import { basename, isAbsolute } from 'node:path';
import { COMMANDS } from '../../shared/commands';
import type { Studio } from '../studio';
import { PanelModel } from '../../shared/panel/store';
import { formatRet } from '../../shared/panel/format';
import type { DropEvent, TraceEvent } from '../../shared/traceEvent';
import {
  HostToWebview, PANEL_PROTOCOL_VERSION, PanelState, RenderedPanel, RowsMessage, SessionState, SyscallContext, WebviewToHost,
  isWebviewMessage, type DropSite,
} from '../../shared/panelProtocol';
import { openHookReference } from './hookReference';
import { readSessionFile, writeSessionFile } from './sessionFiles';

/** How often, at most, the webview hears about new events. */
const FLUSH_MS = 50;

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
    const { skipped } = await readSessionFile(uri, async (batch) => {
      this.model.append(batch);
      this.scheduleFlush();
      // Let the extension host breathe (and the webview paint progress) between batches.
      await new Promise((r) => setImmediate(r));
    }, () => generation === this.generation);
    if (generation !== this.generation) return { events: 0, skipped };
    const events = this.model.size;
    this.detail = `${events.toLocaleString('en-US')} events from ${uri.scheme === 'file' ? uri.fsPath : uri.toString()}` +
      (skipped ? `; ${skipped} malformed line${skipped === 1 ? '' : 's'} skipped` : '');
    this.viewport = { ...this.viewport, first: 0 };
    this.revealRow(0, false);
    return { events, skipped };
  }

  /** Writes the whole session as JSON lines, held events included. */
  async exportTo(uri: vscode.Uri): Promise<number> {
    await writeSessionFile(uri, this.model, this.held.flat());
    return this.model.size + this.heldCount;
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
