// The tracing panel's event store: every event of one trace session, its filters, its two tree modes
// ("by syscall", "by process") and the per-hook histogram. Pure TypeScript, no VS Code, no DOM, so the
// unit tests and bench/panel.bench.ts run it in plain Node.
//
// Where it lives: in the extension host, not in the webview. Events reach the host first (from the helper
// or from a saved file), so keeping them there means they are held once, never serialized a second time
// into the webview, and exporting a million events writes straight from this store. The webview only
// ever holds the rows on screen: it asks for a window (first row, count) and the host answers from here.
// A webview that VS Code discards when its tab is hidden comes back with nothing to rebuild.
//
// Why the layout: a million events must fit in a few hundred MB and filter in well under 100 ms, so
// every field a filter or a row needs is a column in a typed array, strings are interned (hook, comm,
// syscall, category, source file in `names`; decoded argument values in `values`), and filtering is a
// scan over those columns. The decoded argument objects are kept as they came (the details pane shows
// them), but every argument value is also interned once, so a free-text filter tests each distinct
// value once and then scans integers. The histogram and the syscall/process groups are kept up to date
// on arrival, so nothing is recomputed per batch.
import type { DropEvent, HookEvent, TraceEvent, TraceValue } from './traceEvent';
import { hookCategory } from './hooks/categories';
import type { PanelRow } from './panelProtocol';

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

const FLAG_HAS_RET = 1;
const FLAG_DENIED = 2;
const FLAG_ERROR = 4;

const KIND_CODE: Record<EventKind, number> = { hook: 0, syscall_enter: 1, syscall_exit: 2, process: 3, drops: 4 };

/** Strings seen once, stored once; ids are dense so per-id flags live in typed arrays. */
export class StringTable {
  readonly values: string[] = [];
  private readonly ids = new Map<string, number>();
  // For substring search: the lower-cased values joined into a few long strings, searched with the
  // engine's native indexOf instead of one `includes` per value (half a million values in a few ms).
  private chunks: Array<{ readonly text: string; readonly firstId: number; readonly starts: Int32Array }> = [];
  private searchable = 0;

  intern(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(s);
      this.ids.set(s, id);
    }
    return id;
  }

  id(s: string): number | undefined {
    return this.ids.get(s);
  }

  get size(): number {
    return this.values.length;
  }

  /** One flag per string: does it contain `needle` (already lower case)? */
  matching(needle: string): Uint8Array {
    const n = this.values.length;
    const out = new Uint8Array(n);
    if (!needle || needle.includes(SEPARATOR)) return out;
    this.index();
    for (const { text, firstId, starts } of this.chunks) {
      let at = text.indexOf(needle);
      while (at >= 0) {
        const k = upperBound(starts, at) - 1;
        out[firstId + k] = 1;
        at = k + 1 < starts.length ? text.indexOf(needle, starts[k + 1]) : -1;
      }
    }
    return out;
  }

  /**
   * Makes every value searchable. Called after each appended batch, so the first text filter does not
   * pay for half a million lower-cased strings at once. A new chunk per batch, and chunks merged while
   * the newer is at least half the size of the older, so each value is copied O(log n) times in all.
   */
  index(): void {
    const n = this.values.length;
    if (this.searchable === n) return;
    const from = this.searchable;
    const starts = new Int32Array(n - from);
    const parts: string[] = [];
    let pos = 0;
    for (let id = from; id < n; id++) {
      const lower = this.values[id].toLowerCase();
      starts[id - from] = pos;
      parts.push(lower);
      pos += lower.length + 1;
    }
    this.chunks.push({ text: parts.join(SEPARATOR), firstId: from, starts });
    this.searchable = n;
    while (this.chunks.length >= 2) {
      const b = this.chunks[this.chunks.length - 1];
      const a = this.chunks[this.chunks.length - 2];
      if (b.starts.length * 2 < a.starts.length) break;
      const merged = new Int32Array(a.starts.length + b.starts.length);
      merged.set(a.starts);
      const shift = a.text.length + 1;
      for (let k = 0; k < b.starts.length; k++) merged[a.starts.length + k] = b.starts[k] + shift;
      this.chunks.splice(-2, 2, { text: a.text + SEPARATOR + b.text, firstId: a.firstId, starts: merged });
    }
  }

  clear(): void {
    this.values.length = 0;
    this.ids.clear();
    this.chunks = [];
    this.searchable = 0;
  }
}

const SEPARATOR = '\u0000';

/** First index in `a` whose value is greater than `v`. */
function upperBound(a: Int32Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A growable typed-array column; capacity doubles so appends are amortized O(1). */
class Column<T extends Int32Array | Float64Array | Uint8Array | Int16Array> {
  constructor(
    private readonly make: (n: number) => T,
    public data: T,
  ) {}

  ensure(n: number): void {
    if (n <= this.data.length) return;
    let cap = this.data.length || 1024;
    while (cap < n) cap *= 2;
    const next = this.make(cap);
    next.set(this.data as never);
    this.data = next;
  }
}

const i32 = (n = 1024) => new Column((k) => new Int32Array(k), new Int32Array(n));
const f64 = (n = 1024) => new Column((k) => new Float64Array(k), new Float64Array(n));
const u8 = (n = 1024) => new Column((k) => new Uint8Array(k), new Uint8Array(n));
const i16 = (n = 1024) => new Column((k) => new Int16Array(k), new Int16Array(n));

/** A growable list of int32 with push; used for matches, pools and group tables. */
export class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Int32Array(capacity);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  view(): Int32Array {
    return this.data.subarray(0, this.length);
  }
  clear(): void {
    this.length = 0;
  }
}

/** One syscall instance of one thread, or one process (tgid): the parent rows of the tree modes. */
export interface GroupInfo {
  readonly grouping: Exclude<Grouping, 'none'>;
  readonly id: number;
  /** Syscall name (syscall mode) or latest comm (process mode). */
  readonly label: string;
  readonly pid: number;
  readonly tgid: number;
  /** Index of the group's first event. */
  readonly first: number;
  /** Syscall return value from its exit event, when seen. */
  readonly ret?: number;
  /** Syscall arguments from its enter event, when seen. */
  readonly enterArgs?: readonly number[];
}

/** What one event carries beyond the columns, kept as decoded (argument objects are not copied). */
type Extra =
  | { readonly [name: string]: TraceValue } // hook args
  | readonly number[] // syscall_enter args
  | { readonly what: 'fork' | 'exec' | 'exit'; readonly child?: number; readonly exitCode?: number; readonly filename?: string }
  | undefined;

export interface HistogramEntry {
  readonly hook: string;
  /** Events of this hook in the session. */
  readonly total: number;
  /** Of those, how many pass the current filter. */
  readonly matching: number;
  readonly denied: number;
}

/** A row of the current view: a group header (tree modes) or an event. */
export type ViewRow =
  | { readonly type: 'group'; readonly group: GroupInfo; readonly count: number; readonly denied: number; readonly expanded: boolean }
  | { readonly type: 'event'; readonly index: number; readonly depth: 0 | 1 };

export class PanelModel {
  readonly names = new StringTable();
  readonly values = new StringTable();
  private readonly numberIds = new Map<number, number>();

  private n = 0;
  private readonly time = f64();
  private readonly kind = u8();
  private readonly flags = u8();
  private readonly pid = i32();
  private readonly tgid = i32();
  private readonly comm = i32();
  private readonly hook = i32();
  private readonly syscall = i32();
  private readonly category = i32();
  private readonly ret = i32();
  private readonly cpu = i16();
  private readonly nr = i32();
  private readonly sysGroup = i32();
  private readonly procGroup = i32();
  private readonly argStart = i32();
  private readonly srcFile = i32();
  private readonly srcLine = i32();
  private readonly argPool = new IntList(4096);
  private extra: Extra[] = [];

  // Syscall instances: one per enter (or per run of hooks inside the same syscall when no enter was seen).
  private readonly sysName = new IntList();
  private readonly sysPid = new IntList();
  private readonly sysTgid = new IntList();
  private readonly sysFirst = new IntList();
  private sysRet: Array<number | undefined> = [];
  private sysEnterArgs: Array<readonly number[] | undefined> = [];
  private readonly openSyscall = new Map<number, number>();
  // Processes by tgid, in order of first appearance.
  private readonly procTgid = new IntList();
  private readonly procFirst = new IntList();
  private readonly procComm = new IntList();
  private readonly procByTgid = new Map<number, number>();

  private readonly hookCategories = new Map<number, number>();
  private hookTotal = new Int32Array(64);
  private hookDenied = new Int32Array(64);
  private hookMatching = new Int32Array(64);
  readonly drops: Record<DropSite, number> = { kernel: 0, helper: 0, client: 0, panel: 0 };
  private firstTime = NaN;

  private filter: PanelFilter = {};
  private compiled: CompiledFilter = compileFilter({}, this);
  private readonly matches = new IntList(4096);

  private grouping: Grouping = 'none';
  private readonly collapsed: Record<Exclude<Grouping, 'none'>, Set<number>> = { syscall: new Set(), process: new Set() };
  private rows: Int32Array | undefined;
  private rowsLength = 0;
  /** Bumped on every change that can alter rows; the host compares it to know when to re-send a window. */
  version = 0;

  get size(): number {
    return this.n;
  }

  get matchCount(): number {
    return this.matches.length;
  }

  get currentFilter(): PanelFilter {
    return this.filter;
  }

  get currentGrouping(): Grouping {
    return this.grouping;
  }

  /** Adds one batch in arrival order; events matching the current filter join the view at once. */
  append(events: readonly TraceEvent[]): void {
    const start = this.n;
    const end = start + events.length;
    for (const c of [this.time, this.kind, this.flags, this.pid, this.tgid, this.comm, this.hook, this.syscall,
      this.category, this.ret, this.cpu, this.nr, this.sysGroup, this.procGroup, this.argStart, this.srcFile, this.srcLine]) {
      (c as Column<Int32Array>).ensure(end);
    }
    for (let k = 0; k < events.length; k++) this.ingest(start + k, events[k]);
    this.n = end;
    this.names.index();
    this.values.index();
    this.scan(start, end);
    this.rows = undefined;
    this.version++;
  }

  private ingest(i: number, e: TraceEvent): void {
    if (Number.isNaN(this.firstTime)) this.firstTime = e.time;
    this.time.data[i] = e.time;
    this.kind.data[i] = KIND_CODE[e.kind];
    this.pid.data[i] = e.pid;
    this.tgid.data[i] = e.tgid;
    this.comm.data[i] = this.names.intern(e.comm);
    this.cpu.data[i] = e.cpu ?? -1;
    this.argStart.data[i] = this.argPool.length;
    let flags = 0;
    let hook = -1;
    let syscall = -1;
    let category = -1;
    let ret = 0;
    let nr = -1;
    let srcFile = -1;
    let srcLine = 0;
    let sys = -1;
    let extra: Extra;
    switch (e.kind) {
      case 'hook': {
        hook = this.names.intern(e.hook);
        category = this.names.intern(e.category ?? hookCategory(e.hook));
        if (!this.hookCategories.has(hook)) this.hookCategories.set(hook, category);
        if (e.syscall !== undefined) syscall = this.names.intern(e.syscall);
        if (e.ret !== undefined) {
          ret = e.ret;
          flags |= FLAG_HAS_RET | (e.ret < 0 ? FLAG_DENIED : 0);
        }
        if (e.source) {
          srcFile = this.names.intern(e.source.file);
          srcLine = e.source.line;
        }
        this.internValue(e.args);
        extra = e.args;
        sys = this.syscallFor(e.pid, e.tgid, syscall, i, false);
        if (hook >= this.hookTotal.length) this.growHistogram(hook + 1);
        this.hookTotal[hook]++;
        if (flags & FLAG_DENIED) this.hookDenied[hook]++;
        break;
      }
      case 'syscall_enter':
        syscall = this.names.intern(e.syscall);
        nr = e.nr;
        for (const a of e.args) this.internValue(a);
        extra = e.args;
        this.openSyscall.delete(e.pid);
        sys = this.syscallFor(e.pid, e.tgid, syscall, i, true);
        this.sysEnterArgs[sys] = e.args;
        break;
      case 'syscall_exit':
        syscall = this.names.intern(e.syscall);
        nr = e.nr;
        ret = e.ret;
        flags |= FLAG_HAS_RET | (e.ret < 0 ? FLAG_ERROR : 0);
        this.internValue(e.ret);
        sys = this.syscallFor(e.pid, e.tgid, syscall, i, false);
        this.sysRet[sys] = e.ret;
        this.openSyscall.delete(e.pid);
        break;
      case 'process':
        if (e.filename !== undefined) this.internValue(e.filename);
        this.internValue(e.what);
        extra = { what: e.what, child: e.child, exitCode: e.exitCode, filename: e.filename };
        break;
      case 'drops':
        ret = e.count;
        nr = DROP_SITES.indexOf(e.where);
        this.drops[e.where] = (this.drops[e.where] ?? 0) + e.count;
        this.internValue(e.where);
        break;
    }
    this.flags.data[i] = flags;
    this.hook.data[i] = hook;
    this.syscall.data[i] = syscall;
    this.category.data[i] = category;
    this.ret.data[i] = ret;
    this.nr.data[i] = nr;
    this.srcFile.data[i] = srcFile;
    this.srcLine.data[i] = srcLine;
    this.sysGroup.data[i] = sys;
    this.procGroup.data[i] = e.kind === 'drops' ? -1 : this.processFor(e.tgid, this.comm.data[i], i);
    this.extra[i] = extra;
  }

  /** The syscall instance an event belongs to, opening one when the thread has none for this syscall. */
  private syscallFor(pid: number, tgid: number, syscall: number, i: number, fresh: boolean): number {
    const open = this.openSyscall.get(pid);
    if (!fresh && open !== undefined && (syscall < 0 || this.sysName.data[open] === syscall)) return open;
    if (syscall < 0) return -1;
    const g = this.sysName.length;
    this.sysName.push(syscall);
    this.sysPid.push(pid);
    this.sysTgid.push(tgid);
    this.sysFirst.push(i);
    this.sysRet.push(undefined);
    this.sysEnterArgs.push(undefined);
    this.openSyscall.set(pid, g);
    return g;
  }

  private processFor(tgid: number, comm: number, i: number): number {
    let g = this.procByTgid.get(tgid);
    if (g === undefined) {
      g = this.procTgid.length;
      this.procTgid.push(tgid);
      this.procFirst.push(i);
      this.procComm.push(comm);
      this.procByTgid.set(tgid, g);
    } else {
      // exec changes the name; the group shows the newest one.
      this.procComm.data[g] = comm;
    }
    return g;
  }

  /** Interns every leaf of a decoded value so the text filter can test distinct values only once. */
  private internValue(v: TraceValue): void {
    if (typeof v === 'string') this.argPool.push(this.values.intern(v));
    else if (typeof v === 'number') {
      let id = this.numberIds.get(v);
      if (id === undefined) {
        id = this.values.intern(String(v));
        this.numberIds.set(v, id);
      }
      this.argPool.push(id);
    } else if (typeof v === 'boolean') this.argPool.push(this.values.intern(v ? 'true' : 'false'));
    else if (v === null) return;
    else if (Array.isArray(v)) for (const x of v) this.internValue(x);
    else for (const k in v as Record<string, TraceValue>) this.internValue((v as Record<string, TraceValue>)[k]);
  }

  private growHistogram(n: number): void {
    let cap = this.hookTotal.length;
    while (cap < n) cap *= 2;
    const grow = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.hookTotal = grow(this.hookTotal);
    this.hookDenied = grow(this.hookDenied);
    this.hookMatching = grow(this.hookMatching);
  }

  /** Replaces the filter and rescans every event. */
  setFilter(filter: PanelFilter): void {
    this.filter = normalizeFilter(filter);
    this.compiled = compileFilter(this.filter, this);
    this.matches.clear();
    this.hookMatching.fill(0);
    this.scan(0, this.n);
    this.rows = undefined;
    this.version++;
  }

  private scan(from: number, to: number): void {
    const f = this.compiled;
    if (f.text !== undefined) {
      f.refreshText(this);
      // A text nothing contains matches no event: skip the scan (typing a new word often gets here).
      if (!f.nameHits!.includes(1) && !f.valueHits!.includes(1)) return;
    }
    const kind = this.kind.data, flags = this.flags.data, pid = this.pid.data, tgid = this.tgid.data;
    const hook = this.hook.data, comm = this.comm.data, syscall = this.syscall.data, category = this.category.data;
    const argStart = this.argStart.data, pool = this.argPool.data;
    const matching = this.hookMatching;
    for (let i = from; i < to; i++) {
      if (f.kinds && !f.kinds[kind[i]]) continue;
      const h = hook[i];
      if (f.hooks && (h < 0 || !f.hooks[h])) continue;
      if (f.categories && (category[i] < 0 || !f.categories[category[i]])) continue;
      if (f.pid !== undefined && pid[i] !== f.pid && tgid[i] !== f.pid) continue;
      if (f.deniedOnly && !(flags[i] & FLAG_DENIED)) continue;
      if (f.text !== undefined) {
        const names = f.nameHits!;
        let hit = names[comm[i]] === 1 || (h >= 0 && names[h] === 1) || (syscall[i] >= 0 && names[syscall[i]] === 1) ||
          (category[i] >= 0 && names[category[i]] === 1);
        if (!hit) {
          const values = f.valueHits!;
          const end = i + 1 < this.n ? argStart[i + 1] : this.argPool.length;
          for (let p = argStart[i]; p < end; p++) {
            if (values[pool[p]] === 1) {
              hit = true;
              break;
            }
          }
        }
        if (!hit) continue;
      }
      this.matches.push(i);
      if (h >= 0) matching[h]++;
    }
  }

  setGrouping(grouping: Grouping): void {
    if (grouping === this.grouping) return;
    this.grouping = grouping;
    this.rows = undefined;
    this.version++;
  }

  /** Expands or collapses one group of the current tree mode. */
  toggleGroup(group: number, expanded?: boolean): void {
    if (this.grouping === 'none') return;
    const set = this.collapsed[this.grouping];
    const expand = expanded ?? set.has(group);
    if (expand) set.delete(group);
    else set.add(group);
    this.rows = undefined;
    this.version++;
  }

  /** Number of rows in the current view (events, plus group headers in tree modes). */
  get rowCount(): number {
    if (this.grouping === 'none') return this.matches.length;
    this.buildRows();
    return this.rowsLength;
  }

  /** Rows [first, first + count) of the current view. */
  window(first: number, count: number): ViewRow[] {
    const out: ViewRow[] = [];
    const total = this.rowCount;
    const end = Math.min(total, first + count);
    if (this.grouping === 'none') {
      const m = this.matches.data;
      for (let r = Math.max(0, first); r < end; r++) out.push({ type: 'event', index: m[r], depth: 0 });
      return out;
    }
    const rows = this.rows!;
    for (let r = Math.max(0, first); r < end; r++) {
      const v = rows[r];
      if (v >= 0) out.push({ type: 'event', index: v, depth: this.groupOf(v) >= 0 ? 1 : 0 });
      else out.push(this.groupRow(-v - 1));
    }
    return out;
  }

  /** The row where an event is shown in the current view, or -1 (filtered out or collapsed). */
  rowOfEvent(index: number): number {
    if (this.grouping === 'none') return lowerBound(this.matches.data, this.matches.length, index, true);
    this.buildRows();
    const rows = this.rows!;
    for (let r = 0; r < this.rowsLength; r++) if (rows[r] === index) return r;
    return -1;
  }

  private groupOf(i: number): number {
    return this.grouping === 'syscall' ? this.sysGroup.data[i] : this.grouping === 'process' ? this.procGroup.data[i] : -1;
  }

  private groupCounts: Int32Array = new Int32Array(0);
  private groupDenied: Int32Array = new Int32Array(0);

  private groupRow(g: number): ViewRow {
    const grouping = this.grouping as Exclude<Grouping, 'none'>;
    return {
      type: 'group',
      group: this.group(grouping, g),
      count: this.groupCounts[g],
      denied: this.groupDenied[g],
      expanded: !this.collapsed[grouping].has(g),
    };
  }

  group(grouping: Exclude<Grouping, 'none'>, g: number): GroupInfo {
    if (grouping === 'syscall') {
      const ret = this.sysRet[g];
      const enterArgs = this.sysEnterArgs[g];
      return {
        grouping, id: g, label: this.names.values[this.sysName.data[g]], pid: this.sysPid.data[g], tgid: this.sysTgid.data[g],
        first: this.sysFirst.data[g], ...(ret !== undefined ? { ret } : {}), ...(enterArgs ? { enterArgs } : {}),
      };
    }
    const tgid = this.procTgid.data[g];
    return { grouping, id: g, label: this.names.values[this.procComm.data[g]], pid: tgid, tgid, first: this.procFirst.data[g] };
  }

  /** The syscall instance an event ran in, if any. */
  syscallGroupOf(index: number): GroupInfo | undefined {
    const g = this.sysGroup.data[index];
    return g >= 0 && index < this.n ? this.group('syscall', g) : undefined;
  }

  /** Hook events of one syscall instance, in order (for the details pane's syscall context). */
  eventsOfSyscall(g: number, limit: number): number[] {
    const out: number[] = [];
    const sys = this.sysGroup.data;
    for (let i = this.sysFirst.data[g]; i < this.n && out.length < limit; i++) {
      if (sys[i] === g) out.push(i);
      else if (this.pid.data[i] === this.sysPid.data[g] && this.kind.data[i] === KIND_CODE.syscall_enter) break;
    }
    return out;
  }

  /**
   * Tree rows: each group once, at the position of its first matching event, followed by its matching
   * events when expanded; events outside any group stay where they are. Two linear passes over the
   * matches with typed arrays (a counting sort by group), rebuilt lazily when rows are asked for.
   */
  private buildRows(): void {
    if (this.rows) return;
    const groupCol = this.grouping === 'syscall' ? this.sysGroup.data : this.procGroup.data;
    const groups = this.grouping === 'syscall' ? this.sysName.length : this.procTgid.length;
    // Flags in a typed array: a Set lookup per group costs more than the rest of the pass on big sessions.
    const collapsed = new Uint8Array(groups);
    for (const g of this.collapsed[this.grouping as Exclude<Grouping, 'none'>]) if (g < groups) collapsed[g] = 1;
    const m = this.matches.data;
    const len = this.matches.length;
    const counts = new Int32Array(groups);
    const denied = new Int32Array(groups);
    const flags = this.flags.data;
    const top = new IntList(1024);
    for (let k = 0; k < len; k++) {
      const i = m[k];
      const g = groupCol[i];
      if (g < 0) top.push(i);
      else {
        if (counts[g] === 0) top.push(-g - 1);
        counts[g]++;
        if (flags[i] & FLAG_DENIED) denied[g]++;
      }
    }
    const offsets = new Int32Array(groups + 1);
    for (let g = 0; g < groups; g++) offsets[g + 1] = offsets[g] + counts[g];
    const members = new Int32Array(len);
    const fill = offsets.slice(0, groups);
    for (let k = 0; k < len; k++) {
      const g = groupCol[m[k]];
      if (g >= 0) members[fill[g]++] = m[k];
    }
    let total = top.length;
    for (let t = 0; t < top.length; t++) {
      const v = top.data[t];
      if (v < 0 && !collapsed[-v - 1]) total += counts[-v - 1];
    }
    const rows = new Int32Array(total);
    let r = 0;
    for (let t = 0; t < top.length; t++) {
      const v = top.data[t];
      rows[r++] = v;
      if (v < 0) {
        const g = -v - 1;
        if (!collapsed[g]) {
          rows.set(members.subarray(offsets[g], offsets[g + 1]), r);
          r += counts[g];
        }
      }
    }
    this.rows = rows;
    this.rowsLength = total;
    this.groupCounts = counts;
    this.groupDenied = denied;
  }

  /** Per-hook counts, most frequent first. */
  histogram(): HistogramEntry[] {
    const out: HistogramEntry[] = [];
    for (let h = 0; h < this.hookTotal.length; h++) {
      if (this.hookTotal[h] > 0) {
        out.push({ hook: this.names.values[h], total: this.hookTotal[h], matching: this.hookMatching[h], denied: this.hookDenied[h] });
      }
    }
    return out.sort((a, b) => b.total - a.total || (a.hook < b.hook ? -1 : 1));
  }

  get totalDrops(): number {
    let t = 0;
    for (const s of DROP_SITES) t += this.drops[s];
    return t;
  }

  /** Event `i` as a TraceEvent again (details pane; export leaves `seq` out, a reader assigns its own). */
  event(i: number, withSeq = true): TraceEvent {
    if (i < 0 || i >= this.n) throw new RangeError(`no event ${i} (session has ${this.n})`);
    const names = this.names.values;
    const base = {
      time: this.time.data[i],
      ...(this.cpu.data[i] >= 0 ? { cpu: this.cpu.data[i] } : {}),
      pid: this.pid.data[i],
      tgid: this.tgid.data[i],
      comm: names[this.comm.data[i]],
      ...(withSeq ? { seq: i } : {}),
    };
    const kind = EVENT_KINDS[this.kind.data[i]];
    const extra = this.extra[i];
    switch (kind) {
      case 'hook': {
        const e: { -readonly [K in keyof HookEvent]: HookEvent[K] } = { ...base, kind, hook: names[this.hook.data[i]], args: extra as HookEvent['args'] };
        e.category = names[this.category.data[i]];
        if (this.flags.data[i] & FLAG_HAS_RET) e.ret = this.ret.data[i];
        if (this.syscall.data[i] >= 0) e.syscall = names[this.syscall.data[i]];
        if (this.srcFile.data[i] >= 0) e.source = { file: names[this.srcFile.data[i]], line: this.srcLine.data[i] };
        return e;
      }
      case 'syscall_enter':
        return { ...base, kind, syscall: names[this.syscall.data[i]], nr: this.nr.data[i], args: extra as readonly number[] };
      case 'syscall_exit':
        return { ...base, kind, syscall: names[this.syscall.data[i]], nr: this.nr.data[i], ret: this.ret.data[i] };
      case 'process': {
        const p = extra as { what: 'fork' | 'exec' | 'exit'; child?: number; exitCode?: number; filename?: string };
        return {
          ...base, kind, what: p.what,
          ...(p.child !== undefined ? { child: p.child } : {}),
          ...(p.exitCode !== undefined ? { exitCode: p.exitCode } : {}),
          ...(p.filename !== undefined ? { filename: p.filename } : {}),
        };
      }
      case 'drops': {
        return { ...base, kind, where: DROP_SITES[this.nr.data[i]] ?? 'kernel', count: this.ret.data[i] };
      }
    }
    throw new Error(`event ${i} has an unknown kind`);
  }

  /** Fast column reads for rows on screen (no object per field). */
  kindOf(i: number): EventKind {
    return EVENT_KINDS[this.kind.data[i]];
  }
  timeOf(i: number): number {
    return this.time.data[i];
  }
  /** Seconds since the session's first event. */
  relativeTime(i: number): number {
    return (this.time.data[i] - this.firstTime) / 1e9;
  }
  isDenied(i: number): boolean {
    return (this.flags.data[i] & FLAG_DENIED) !== 0;
  }

  /** One row on screen, read straight from the columns. */
  row(row: number, v: ViewRow): PanelRow {
    if (v.type === 'group') {
      const g = v.group;
      return {
        type: 'group', row, grouping: g.grouping, group: g.id, label: g.label, pid: g.pid, tgid: g.tgid,
        time: formatSeconds(this.relativeTime(g.first)), count: v.count, denied: v.denied, expanded: v.expanded,
        ret: g.ret !== undefined ? formatRet(g.ret) : '', failed: g.ret !== undefined && g.ret < 0,
      };
    }
    const i = v.index;
    const names = this.names.values;
    const kind = this.kindOf(i);
    const flags = this.flags.data[i];
    return {
      type: 'event', row, seq: i, kind, depth: v.depth, time: formatSeconds(this.relativeTime(i)),
      pid: this.pid.data[i], tgid: this.tgid.data[i], comm: names[this.comm.data[i]],
      syscall: this.syscall.data[i] >= 0 ? names[this.syscall.data[i]] : '',
      hook: this.hook.data[i] >= 0 ? names[this.hook.data[i]] : '',
      summary: this.summary(i, kind),
      ret: kind === 'drops' || !(flags & FLAG_HAS_RET) ? '' : formatRet(this.ret.data[i]),
      denied: (flags & FLAG_DENIED) !== 0,
      failed: (flags & FLAG_ERROR) !== 0,
      hasSource: this.srcFile.data[i] >= 0,
    };
  }

  /** Rows [first, first + count) ready to send. */
  panelRows(first: number, count: number): PanelRow[] {
    return this.window(first, count).map((v, k) => this.row(first + k, v));
  }

  private summary(i: number, kind: EventKind): string {
    const extra = this.extra[i];
    switch (kind) {
      case 'hook':
        return summarizeArgs(extra as Record<string, TraceValue>);
      case 'syscall_enter':
        return `(${(extra as readonly number[]).map(formatArg).join(', ')})`;
      case 'syscall_exit':
        return `= ${formatRet(this.ret.data[i])}`;
      case 'process': {
        const p = extra as { what: string; child?: number; exitCode?: number; filename?: string };
        if (p.what === 'fork') return `fork: child ${p.child ?? '?'}`;
        if (p.what === 'exec') return `exec ${p.filename ?? ''}`.trimEnd();
        return `exit${p.exitCode !== undefined ? ` code ${p.exitCode}` : ''}`;
      }
      case 'drops':
        return `${this.ret.data[i]} events dropped by the ${DROP_SITES[this.nr.data[i]] ?? 'kernel'}`;
    }
    return '';
  }

  /** Where the program that emitted event `i` is defined, if the event says. */
  sourceOf(i: number): { readonly file: string; readonly line: number } | undefined {
    return this.srcFile.data[i] >= 0 ? { file: this.names.values[this.srcFile.data[i]], line: this.srcLine.data[i] } : undefined;
  }

  /** Categories of the hooks seen in the session, sorted. */
  categories(): string[] {
    return [...new Set(this.hookCategories.values())].map((c) => this.names.values[c]).sort();
  }

  /** Removes every event; filter, grouping and drop totals of a new session start clean too, except the filter. */
  clear(): void {
    this.n = 0;
    this.extra = [];
    this.argPool.clear();
    this.names.clear();
    this.values.clear();
    this.numberIds.clear();
    this.sysName.clear();
    this.sysPid.clear();
    this.sysTgid.clear();
    this.sysFirst.clear();
    this.sysRet = [];
    this.sysEnterArgs = [];
    this.openSyscall.clear();
    this.procTgid.clear();
    this.procFirst.clear();
    this.procComm.clear();
    this.procByTgid.clear();
    this.hookCategories.clear();
    this.hookTotal.fill(0);
    this.hookDenied.fill(0);
    this.hookMatching.fill(0);
    for (const s of DROP_SITES) this.drops[s] = 0;
    this.firstTime = NaN;
    this.collapsed.syscall.clear();
    this.collapsed.process.clear();
    this.matches.clear();
    this.compiled = compileFilter(this.filter, this);
    this.rows = undefined;
    this.version++;
  }
}

interface CompiledFilter {
  readonly kinds?: Uint8Array;
  hooks?: Uint8Array;
  categories?: Uint8Array;
  readonly pid?: number;
  readonly deniedOnly: boolean;
  readonly text?: string;
  nameHits?: Uint8Array;
  valueHits?: Uint8Array;
  /**
   * Brings the text flags up to date with strings interned since the last scan. Hook and category sets
   * need no such care: a name interned later has an id past their end, reads as undefined, and so fails
   * the test, which is right because it was not asked for.
   */
  refreshText(model: PanelModel): void;
}

function normalizeFilter(f: PanelFilter): PanelFilter {
  const out: { -readonly [K in keyof PanelFilter]: PanelFilter[K] } = {};
  if (f.hooks?.length) out.hooks = [...new Set(f.hooks)];
  if (f.categories?.length) out.categories = [...new Set(f.categories)];
  if (f.pid !== undefined && Number.isFinite(f.pid)) out.pid = f.pid;
  const text = f.text?.trim();
  if (text) out.text = text;
  if (f.kinds?.length) out.kinds = [...new Set(f.kinds)];
  if (f.deniedOnly) out.deniedOnly = true;
  return out;
}

function compileFilter(f: PanelFilter, model: PanelModel): CompiledFilter {
  const nameSet = (list: readonly string[] | undefined): Uint8Array | undefined => {
    if (!list) return undefined;
    const flags = new Uint8Array(Math.max(64, model.names.size * 2));
    for (const s of list) flags[model.names.intern(s)] = 1;
    return flags;
  };
  let kinds: Uint8Array | undefined;
  if (f.kinds) {
    kinds = new Uint8Array(EVENT_KINDS.length);
    for (const k of f.kinds) kinds[KIND_CODE[k]] = 1;
  }
  const needle = f.text?.toLowerCase();
  const c: CompiledFilter = {
    kinds,
    hooks: nameSet(f.hooks),
    categories: nameSet(f.categories),
    pid: f.pid,
    deniedOnly: f.deniedOnly === true,
    text: needle,
    refreshText(m: PanelModel) {
      // Ids are dense and only grow; re-test only when new strings appeared since the last scan.
      if (needle === undefined) return;
      if (!this.nameHits || this.nameHits.length !== m.names.size) this.nameHits = m.names.matching(needle);
      if (!this.valueHits || this.valueHits.length !== m.values.size) this.valueHits = m.values.matching(needle);
    },
  };
  return c;
}

/** Index of `value` in the sorted prefix of `a` (or -1 when `exact` and absent). */
function lowerBound(a: Int32Array, length: number, value: number, exact: boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return exact ? (lo < length && a[lo] === value ? lo : -1) : lo;
}

// ---- formatting for rows and details ----

const ERRNO: Readonly<Record<number, string>> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
  14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC',
  30: 'EROFS', 38: 'ENOSYS', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 111: 'ECONNREFUSED', 125: 'ECANCELED',
};

/** `EACCES` for -13. */
export function errnoName(ret: number): string | undefined {
  return ret < 0 ? ERRNO[-ret] : undefined;
}

/** `-13 EACCES`, `0`, `3`. */
export function formatRet(ret: number): string {
  const name = errnoName(ret);
  return name ? `${ret} ${name}` : String(ret);
}

export function formatSeconds(s: number): string {
  return Number.isFinite(s) ? s.toFixed(6) : '';
}

function formatArg(n: number): string {
  return n > 0xffff ? `0x${n.toString(16)}` : String(n);
}

const SUMMARY_MAX = 200;
/** Fields that name a struct best: `file=/etc/passwd` rather than `file={path=..., ino=...}`. */
const NAMING_FIELDS = ['path', 'filename', 'name', 'comm', 'addr'];

/** A one-line rendering of decoded arguments for the list: `file=/etc/passwd mask=MAY_READ`. */
export function summarizeArgs(args: { readonly [name: string]: TraceValue } | undefined): string {
  if (!args) return '';
  let out = '';
  for (const key in args) {
    if (out.length >= SUMMARY_MAX) break;
    out += `${out ? ' ' : ''}${key}=${brief(args[key], 0)}`;
  }
  return out.length > SUMMARY_MAX ? `${out.slice(0, SUMMARY_MAX - 1)}…` : out;
}

function brief(v: TraceValue, depth: number): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return `[${v.slice(0, 4).map((x) => brief(x, depth + 1)).join(', ')}${v.length > 4 ? ', …' : ''}]`;
  const rec = v as { readonly [field: string]: TraceValue };
  for (const f of NAMING_FIELDS) if (typeof rec[f] === 'string' || typeof rec[f] === 'number') return String(rec[f]);
  if (depth > 0) return '{…}';
  const parts: string[] = [];
  for (const k in rec) {
    parts.push(`${k}=${brief(rec[k], depth + 1)}`);
    if (parts.length === 3) break;
  }
  return `{${parts.join(' ')}}`;
}

const PROCESS_WHAT = new Set(['fork', 'exec', 'exit']);

/**
 * Checks a parsed line of a saved session before it enters the store: a file from disk is input, and a
 * malformed line is counted and skipped rather than breaking the panel.
 */
export function isTraceEvent(v: unknown): v is TraceEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  if (typeof e.time !== 'number' || typeof e.pid !== 'number' || typeof e.tgid !== 'number' || typeof e.comm !== 'string') return false;
  if (e.cpu !== undefined && typeof e.cpu !== 'number') return false;
  switch (e.kind) {
    case 'hook':
      return typeof e.hook === 'string' && typeof e.args === 'object' && e.args !== null && !Array.isArray(e.args) &&
        (e.ret === undefined || typeof e.ret === 'number') && (e.syscall === undefined || typeof e.syscall === 'string') &&
        (e.category === undefined || typeof e.category === 'string') &&
        (e.source === undefined || (typeof e.source === 'object' && e.source !== null &&
          typeof (e.source as Record<string, unknown>).file === 'string' && typeof (e.source as Record<string, unknown>).line === 'number'));
    case 'syscall_enter':
      return typeof e.syscall === 'string' && typeof e.nr === 'number' && Array.isArray(e.args) && e.args.every((a) => typeof a === 'number');
    case 'syscall_exit':
      return typeof e.syscall === 'string' && typeof e.nr === 'number' && typeof e.ret === 'number';
    case 'process':
      return typeof e.what === 'string' && PROCESS_WHAT.has(e.what) && (e.filename === undefined || typeof e.filename === 'string');
    case 'drops':
      return typeof e.where === 'string' && (DROP_SITES as readonly string[]).includes(e.where) && typeof e.count === 'number';
    default:
      return false;
  }
}
