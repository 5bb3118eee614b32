// The tracing panel's event store (the panel model): every event of one trace session, its filters, its two tree modes
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
//
// Around it: columns.ts (string tables, typed-array columns), filter.ts (compile and scan), tree.ts (the
// tree modes' rows), format.ts (how values read), savedFile.ts (checks on a loaded session).
import type { HookEvent, TraceEvent, TraceValue } from '../traceEvent';
import { hookCategory } from '../hooks/categories';
import { DROP_SITES, EVENT_KINDS, type DropSite, type EventKind, type Grouping, type HistogramEntry, type PanelFilter, type PanelRow } from '../panelProtocol';
import { f64, FLAG_DENIED, FLAG_ERROR, FLAG_HAS_RET, i16, i32, IntList, KIND_CODE, lowerBound, StringTable, u8, type Column } from './columns';
import { compileFilter, normalizeFilter, scanMatches, type CompiledFilter } from './filter';
import { formatArg, formatRet, formatSeconds, summarizeArgs } from './format';
import { buildTreeRows, type GroupInfo, type ViewRow } from './tree';

export type { GroupInfo, ViewRow } from './tree';

/** What one event carries beyond the columns, kept as decoded (argument objects are not copied). */
type Extra =
  | { readonly [name: string]: TraceValue } // hook args
  | readonly number[] // syscall_enter args
  | { readonly what: 'fork' | 'exec' | 'exit'; readonly child?: number; readonly exitCode?: number; readonly filename?: string }
  | undefined;

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
    scanMatches(this.compiled, this, {
      count: this.n, kind: this.kind.data, flags: this.flags.data, pid: this.pid.data, tgid: this.tgid.data, hook: this.hook.data,
      comm: this.comm.data, syscall: this.syscall.data, category: this.category.data, argStart: this.argStart.data,
      pool: this.argPool.data, poolLength: this.argPool.length,
    }, from, to, this.matches, this.hookMatching);
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

  /** Tree rows of the current grouping, rebuilt lazily when rows are asked for after a change. */
  private buildRows(): void {
    if (this.rows) return;
    const grouping = this.grouping as Exclude<Grouping, 'none'>;
    const tree = buildTreeRows(
      grouping === 'syscall' ? this.sysGroup.data : this.procGroup.data,
      grouping === 'syscall' ? this.sysName.length : this.procTgid.length,
      this.collapsed[grouping],
      this.matches,
      this.flags.data,
    );
    this.rows = tree.rows;
    this.rowsLength = tree.length;
    this.groupCounts = tree.counts;
    this.groupDenied = tree.denied;
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
