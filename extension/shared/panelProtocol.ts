// Messages between the tracing panel's host (extension/client/tracingPanel.ts) and its webview
// (media/panel.ts). Declared once here, discriminated by `type`, one union per direction.
//
// The event store lives on the host (see panel/store.ts for why), so traffic is small and bounded: the
// webview says which rows it shows and what the user changed; the host answers with at most one
// `update` per 50 ms however fast events arrive, and with `rows` for the window asked for. No message
// ever carries one event per event received.
//
// Strings from the kernel (comm, file names, argument values) travel as plain strings and the webview
// only ever puts them into the page as text nodes.
import { type Check, bool, int, isPlainObject, json, list, object, oneOf, opt, req, str } from './schema';
import type { DropEvent, TraceEvent } from './traceEvent';

export const PANEL_PROTOCOL_VERSION = 1;

export type EventKind = TraceEvent['kind'];
export const EVENT_KINDS: readonly EventKind[] = ['hook', 'syscall_enter', 'syscall_exit', 'process', 'drops'];
export type DropSite = DropEvent['where'];
export const DROP_SITES: readonly DropSite[] = ['kernel', 'helper', 'client', 'panel'];

/** Which events are shown. Every set criterion must hold; an empty or absent criterion matches all. */
export interface PanelFilter {
  /** Only hook events of these hooks. */
  readonly hooks?: readonly string[];
  /** Only hook events whose hook belongs to one of these categories (file, inode, bprm, ...). */
  readonly categories?: readonly string[];
  /** Events of this thread or process (pid or tgid). */
  readonly pid?: number;
  /** Case-insensitive substring of any decoded field: comm, hook, syscall, argument values, file names. */
  readonly text?: string;
  readonly kinds?: readonly EventKind[];
  /** Only hook calls that returned a negative errno. */
  readonly deniedOnly?: boolean;
}

export type Grouping = 'none' | 'syscall' | 'process';

export interface HistogramEntry {
  readonly hook: string;
  /** Events of this hook in the session. */
  readonly total: number;
  /** Of those, how many pass the current filter. */
  readonly matching: number;
  readonly denied: number;
}

/** One row on screen: an event, or a syscall/process header in the tree modes. */
export type PanelRow = PanelEventRow | PanelGroupRow;

export interface PanelEventRow {
  readonly type: 'event';
  /** Position in the current view. */
  readonly row: number;
  /** The event's index in the session (stable across filters). */
  readonly seq: number;
  readonly kind: EventKind;
  readonly depth: 0 | 1;
  /** Seconds since the session's first event, formatted. */
  readonly time: string;
  readonly pid: number;
  readonly tgid: number;
  readonly comm: string;
  readonly syscall: string;
  readonly hook: string;
  readonly summary: string;
  /** `-13 EACCES`, `0`, or empty when the event has no return value. */
  readonly ret: string;
  /** A hook returned a negative errno: the kernel denied the operation. */
  readonly denied: boolean;
  /** A syscall returned an error (not necessarily because of an LSM). */
  readonly failed: boolean;
  /** The event names the source line of the program that emitted it. */
  readonly hasSource: boolean;
}

export interface PanelGroupRow {
  readonly type: 'group';
  readonly row: number;
  readonly grouping: Exclude<Grouping, 'none'>;
  readonly group: number;
  /** Syscall name, or the process's comm. */
  readonly label: string;
  readonly pid: number;
  readonly tgid: number;
  readonly time: string;
  /** Matching events in the group. */
  readonly count: number;
  readonly denied: number;
  readonly expanded: boolean;
  readonly ret: string;
  readonly failed: boolean;
}

export type SessionState = 'empty' | 'live' | 'ended' | 'saved';

/** Everything the toolbar, banners and histogram show; sent whole, it is small. */
export interface PanelState {
  readonly protocol: number;
  readonly title: string;
  readonly state: SessionState;
  /** Free text from the session's owner: target, command line, end summary. */
  readonly detail: string;
  readonly total: number;
  readonly matching: number;
  /** Rows of the current view (matching events plus group headers). */
  readonly rows: number;
  readonly paused: boolean;
  /** Events received while paused, shown on resume. */
  readonly held: number;
  readonly follow: boolean;
  readonly drops: Readonly<Record<DropSite, number>>;
  readonly histogram: readonly HistogramEntry[];
  readonly categories: readonly string[];
  readonly filter: PanelFilter;
  readonly grouping: Grouping;
  /** Bumped whenever rows may have changed; rows of an older version are stale. */
  readonly version: number;
}

/** The syscall an event ran inside, for the details pane. */
export interface SyscallContext {
  readonly syscall: string;
  readonly pid: number;
  readonly enterArgs?: readonly number[];
  readonly ret?: string;
  readonly failed: boolean;
  /** Hook calls in this syscall, in order (capped). */
  readonly hooks: ReadonlyArray<{ readonly seq: number; readonly hook: string; readonly ret: string; readonly denied: boolean }>;
  readonly moreHooks: number;
}

/** What the webview renders, reported for tests and automation (see `query`). */
export interface RenderedPanel {
  readonly rowsInDom: number;
  readonly rows: ReadonlyArray<{ readonly seq?: number; readonly group?: number; readonly cells: readonly string[]; readonly denied: boolean }>;
  readonly selectedSeq?: number;
  readonly details: string;
  readonly dropBanner: string;
  readonly emptyStateVisible: boolean;
  readonly histogram: readonly string[];
  /** The list's scroll window and row cache, to explain a failure. */
  readonly list: { readonly first: number; readonly visible: number; readonly total: number; readonly cacheFirst: number; readonly cacheRows: number; readonly cacheVersion: number; readonly stateVersion: number };
}

// ---- host -> webview ----

/** Host: the session's state changed (at most one per 50 ms); carries the rows on screen when they changed. */
export interface UpdateMessage {
  readonly type: 'update';
  readonly state: PanelState;
  readonly window?: RowsMessage;
}

/** Host: the rows [first, first + rows.length) of view `version`; answers `viewport` or follows the tail. */
export interface RowsMessage {
  readonly type: 'rows';
  readonly requestId?: number;
  readonly version: number;
  readonly first: number;
  readonly total: number;
  readonly rows: readonly PanelRow[];
}

/** Host: the selected event in full, for the details pane. */
export interface DetailsMessage {
  readonly type: 'details';
  readonly seq: number;
  readonly event: TraceEvent;
  readonly ret: string;
  readonly denied: boolean;
  readonly context?: SyscallContext;
  /** Where a click leads: `probe.bpf.c:42` or `hook reference`. */
  readonly sourceLabel: string;
}

/** Host: scroll so that this row is visible (and select it when `select`). */
export interface RevealMessage {
  readonly type: 'reveal';
  readonly row: number;
  readonly select: boolean;
}

/** Host: report what is rendered (tests, automation); answered by `queryResult` with the same id. */
export interface QueryMessage {
  readonly type: 'query';
  readonly requestId: number;
}

export type HostToWebview = UpdateMessage | RowsMessage | DetailsMessage | RevealMessage | QueryMessage;

// ---- webview -> host ----

/** Webview: script loaded (again, after VS Code recreated a hidden panel); send the state. */
export interface ReadyMessage {
  readonly type: 'ready';
}

/** Webview: these rows are on screen now. */
export interface ViewportMessage {
  readonly type: 'viewport';
  readonly requestId: number;
  readonly first: number;
  readonly count: number;
}

export interface SetFilterMessage {
  readonly type: 'setFilter';
  readonly filter: PanelFilter;
}

export interface SetGroupingMessage {
  readonly type: 'setGrouping';
  readonly grouping: Grouping;
}

export interface ToggleGroupMessage {
  readonly type: 'toggleGroup';
  readonly group: number;
  readonly expanded: boolean;
}

/** Webview: the user selected an event (details pane follows). */
export interface SelectMessage {
  readonly type: 'select';
  readonly seq: number;
}

/** Webview: open the source line of the program that emitted this event (or the hook reference). */
export interface OpenSourceMessage {
  readonly type: 'openSource';
  readonly seq: number;
  /** Keep keyboard focus in the panel (single click) or move it to the editor (Enter). */
  readonly preserveFocus: boolean;
}

/** Webview: show the reference of a hook (signature, return rule, kernel docs). */
export interface OpenHookDocMessage {
  readonly type: 'openHookDoc';
  readonly hook: string;
}

export interface SetPausedMessage {
  readonly type: 'setPaused';
  readonly paused: boolean;
}

export interface SetFollowMessage {
  readonly type: 'setFollow';
  readonly follow: boolean;
}

/** Webview: a toolbar or empty-state action that runs a command on the host. */
export interface ActionMessage {
  readonly type: 'action';
  readonly action: 'clear' | 'export' | 'openSession' | 'traceExecutable';
}

export interface QueryResultMessage {
  readonly type: 'queryResult';
  readonly requestId: number;
  readonly rendered: RenderedPanel;
}

export type WebviewToHost =
  | ReadyMessage | ViewportMessage | SetFilterMessage | SetGroupingMessage | ToggleGroupMessage | SelectMessage
  | OpenSourceMessage | OpenHookDocMessage | SetPausedMessage | SetFollowMessage | ActionMessage | QueryResultMessage;

const count = int(0, 0x7fffffff);
const seq = int(0, Number.MAX_SAFE_INTEGER);
const type = (t: WebviewToHost['type']) => req(oneOf(t));

/**
 * One schema per webview message, field by field like helper requests (schema.ts): the webview renders
 * kernel strings, so its messages are treated as coming from whoever managed to run script in it.
 */
const WEBVIEW_SCHEMAS: { readonly [K in WebviewToHost['type']]: Check } = {
  ready: object({ type: type('ready') }),
  viewport: object({ type: type('viewport'), requestId: req(count), first: req(count), count: req(int(0, 100_000)) }),
  setFilter: object({
    type: type('setFilter'),
    filter: req(
      object({
        hooks: opt(list(str({ max: 128 }), 4096)),
        categories: opt(list(str({ max: 64 }), 256)),
        pid: opt(count),
        text: opt(str({ max: 4096 })),
        kinds: opt(list(oneOf(...EVENT_KINDS), EVENT_KINDS.length)),
        deniedOnly: opt(bool),
      }),
    ),
  }),
  setGrouping: object({ type: type('setGrouping'), grouping: req(oneOf('none', 'syscall', 'process')) }),
  toggleGroup: object({ type: type('toggleGroup'), group: req(count), expanded: req(bool) }),
  select: object({ type: type('select'), seq: req(seq) }),
  openSource: object({ type: type('openSource'), seq: req(seq), preserveFocus: req(bool) }),
  openHookDoc: object({ type: type('openHookDoc'), hook: req(str({ min: 1, max: 128, pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, what: 'a hook name' })) }),
  setPaused: object({ type: type('setPaused'), paused: req(bool) }),
  setFollow: object({ type: type('setFollow'), follow: req(bool) }),
  action: object({ type: type('action'), action: req(oneOf('clear', 'export', 'openSession', 'traceExecutable')) }),
  // What the webview rendered, for tests and automation: only read, never acted on; bounded like any JSON.
  queryResult: object({ type: type('queryResult'), requestId: req(count), rendered: req(json(6, 1_000_000)) }),
};

/** Why `m` is not a well-formed webview message, or undefined when it is one. */
export function webviewMessageProblem(m: unknown): string | undefined {
  if (!isPlainObject(m)) return 'a message must be an object';
  const t = m.type;
  if (typeof t !== 'string' || !Object.prototype.hasOwnProperty.call(WEBVIEW_SCHEMAS, t)) return `unknown message type ${JSON.stringify(t)?.slice(0, 40)}`;
  return WEBVIEW_SCHEMAS[t as WebviewToHost['type']](m, t);
}

/** The host trusts nothing from the webview's side without checking every field first. */
export function isWebviewMessage(m: unknown): m is WebviewToHost {
  return webviewMessageProblem(m) === undefined;
}
