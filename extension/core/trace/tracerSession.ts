// A connected target with the all-hooks tracer loaded and attached: the "warm" state of Trace Executable.
// Attaching ~230 LSM programs costs seconds and detaching them tens of seconds on a small VM, so the
// tracer is attached once per connection and every trace after the first only adds its process to the
// tracer's filter map. Disposing closes the helper stream; the helper then detaches everything on its own,
// without the user waiting for it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Target } from '../target';
import { HelperClient } from '../helperClient';
import type { AttachResult, EventBatch } from '../../shared/helperProtocol';
import { catalogFromBuffer, HookCatalog } from '../../shared/hooks/catalog';
import { generateTracer, TracerGeneration, FIXED_PROGRAMS } from '../../shared/tracer/generate';
import { compileTracer, hostSyscallTable } from '../../shared/tracer/compile';
import { TraceDecoder } from '../../shared/tracer/decoder';
import { COUNTERS_GLOBAL, EVENTS_MAP, KNOBS, TRACED_MAP, TracerCounters, tracedKey, tracedValue } from '../../shared/tracer/control';
import { cacheRoot } from '../vm/paths';
import type { TraceEvent } from '../../shared/traceEvent';

export type Progress = (message: string) => void;

export interface TracerSelection {
  /** Only hooks of these categories (file, inode, task, ...). Default: all. */
  readonly categories?: readonly string[];
  /** Only these hooks. Default: all. */
  readonly hooks?: readonly string[];
  /** Follow forks and clones into children (strace -f). Default: true. */
  readonly follow?: boolean;
}

export interface TracerState {
  readonly kernel: string;
  /** Hooks of the target kernel (from its BTF). */
  readonly hookCount: number;
  /** Hook programs attached and firing. */
  readonly attached: readonly string[];
  /** Hooks not traced, each with the reason: not selected, disabled for BPF, refused by the kernel, ... */
  readonly notTraced: ReadonlyArray<{ hook: string; reason: string }>;
  readonly timings: { readonly btfMs: number; readonly compileMs: number; readonly loadMs: number; readonly attachMs: number };
  readonly fromCache: boolean;
  /** The BTF came from this machine's cache (same kernel banner and BTF size) instead of the target. */
  readonly btfFromCache: boolean;
}

/** Directory of the tracer's hand-written BPF headers, next to the bundle or in the repository. */
export function tracerHeadersDir(): string {
  // dist/*.js, out/bench/*.js and out/test/<tier>/*.js bundles.
  const candidates = [join(__dirname, '..', 'bpf', 'tracer'), join(__dirname, '..', '..', 'bpf', 'tracer'), join(__dirname, '..', '..', '..', 'bpf', 'tracer')];
  const found = candidates.find((d) => existsSync(join(d, 'tracer_core.h')));
  if (!found) throw new Error('the tracer headers (bpf/tracer/tracer_core.h) are missing from this installation; reinstall the extension or rebuild');
  return found;
}

export function cachedBtfFile(btf: Buffer, root: string): string {
  const dir = join(root, 'btf');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${createHash('sha256').update(btf).digest('hex').slice(0, 24)}.btf`);
  if (!existsSync(file)) writeAtomic(file, btf);
  return file;
}

function writeAtomic(file: string, data: Buffer | string): void {
  writeFileSync(`${file}.tmp${process.pid}`, data);
  renameSync(`${file}.tmp${process.pid}`, file);
}

/**
 * What identifies a running kernel's BTF without reading it: /proc/version (release, build number, compiler
 * and build time) plus the size of /sys/kernel/btf/vmlinux. Reading the BTF itself through the helper is
 * seconds on a TCG VM or a slow link (0.9-4.6 s measured for 4.3 MB from the built-in VM); this is one command.
 */
export interface KernelIdentity {
  readonly banner: string;
  readonly btfSize: number;
}

const IDENTITY_SCRIPT = 'cat /proc/version && stat -c %s /sys/kernel/btf/vmlinux';

export function parseIdentity(stdout: string): KernelIdentity | undefined {
  const lines = stdout.trim().split('\n');
  const btfSize = Number(lines.pop());
  const banner = lines.join('\n').trim();
  return banner.startsWith('Linux version ') && Number.isSafeInteger(btfSize) && btfSize > 0 ? { banner, btfSize } : undefined;
}

function identityIndexFile(root: string, id: KernelIdentity): string {
  return join(root, 'btf', `kernel-${createHash('sha256').update(`${id.banner}\n${id.btfSize}`).digest('hex').slice(0, 24)}.json`);
}

/** The cached BTF file of a kernel seen before, when it is still there with the size the kernel reports. */
export function lookupBtf(root: string, id: KernelIdentity): string | undefined {
  try {
    const entry = JSON.parse(readFileSync(identityIndexFile(root, id), 'utf8')) as { btf?: unknown };
    if (typeof entry.btf !== 'string') return undefined;
    const file = join(root, 'btf', entry.btf);
    return statSync(file).size === id.btfSize ? file : undefined;
  } catch {
    return undefined;
  }
}

export function rememberBtf(root: string, id: KernelIdentity, btfFile: string): void {
  writeAtomic(identityIndexFile(root, id), JSON.stringify({ banner: id.banner, btfSize: id.btfSize, btf: btfFile.slice(join(root, 'btf').length + 1) }));
}

/** The build machine's syscall table does not change while the extension runs (clang -E: ~0.1 s). */
let syscallTable: Record<number, string> | undefined;

function hex(b: Uint8Array): { hex: string } {
  return { hex: Buffer.from(b).toString('hex') };
}

/** Sums the per-CPU counter array the helper returns as JSON (one object per CPU). */
export function sumCounterValue(value: unknown): TracerCounters {
  const sum = { records: 0, ringbufFull: 0, truncated: 0, nested: 0 };
  if (!Array.isArray(value)) throw new Error('tr_counters did not come back as an array');
  for (const c of value as Array<Record<string, unknown>>) {
    sum.records += Number(c.records ?? 0);
    sum.ringbufFull += Number(c.ringbuf_full ?? 0);
    sum.truncated += Number(c.truncated ?? 0);
    sum.nested += Number(c.nested ?? 0);
  }
  return sum;
}

export interface TracerSessionOptions {
  /** Where target BTFs and compiled tracers are kept (default: the extension's cache folder). */
  readonly cacheDir?: string;
}

export class TracerSession {
  private objectId: number | undefined;
  private decoder: TraceDecoder | undefined;
  private generation: TracerGeneration | undefined;
  private sessionId: number | undefined;
  private batchSink: ((batch: EventBatch) => void) | undefined;
  state: TracerState | undefined;

  private constructor(
    readonly target: Target,
    readonly client: HelperClient,
    private readonly cacheDir: string,
    private readonly identity: Promise<KernelIdentity | undefined>,
  ) {}

  static async connect(target: Target, progress: Progress = () => {}, options: TracerSessionOptions = {}): Promise<TracerSession> {
    progress(`starting the helper on ${target.id}`);
    // Asked over the target's exec channel while the helper starts, so the BTF cache lookup costs no round trip.
    const identity = target.exec('sh', ['-c', IDENTITY_SCRIPT]).then((r) => (r.exitCode === 0 ? parseIdentity(r.stdout) : undefined), () => undefined);
    const transport = await target.startHelper();
    const client = await HelperClient.connect(transport, { client: 'bpf-lsm trace' });
    const caps = client.capabilities;
    if (caps && !caps.canRunLsm) {
      const missing = [caps.bpfLsmActive, caps.btf, caps.root, caps.libbpf].filter((c) => !c.ok);
      await client.close().catch(() => undefined);
      throw new Error(
        `target ${target.id} (kernel ${caps.kernelRelease}) cannot run BPF-LSM programs:\n` +
          missing.map((c) => `  - ${c.detail}${'remedy' in c && c.remedy ? `\n    ${String(c.remedy)}` : ''}`).join('\n') +
          '\nRun "bpf-lsm check" for every remedy, or trace on the built-in VM with --target vm.',
      );
    }
    return new TracerSession(target, client, options.cacheDir ?? cacheRoot(), identity);
  }

  get catalogKernel(): string | undefined {
    return this.state?.kernel;
  }

  /** Loads and attaches the tracer once; later calls return the state of the first. */
  async prepare(selection: TracerSelection = {}, progress: Progress = () => {}): Promise<TracerState> {
    if (this.state) return this.state;
    const t0 = Date.now();
    const identity = await this.identity;
    let btfPath = identity && lookupBtf(this.cacheDir, identity);
    const btfFromCache = btfPath !== undefined;
    let btf: Buffer;
    if (btfPath) {
      btf = readFileSync(btfPath);
    } else {
      progress('reading the target kernel\'s BTF');
      btf = await this.client.readBtf();
      btfPath = cachedBtfFile(btf, this.cacheDir);
      // Only a BTF whose size matches what the kernel reported is remembered under its identity.
      if (identity && btf.length === identity.btfSize) rememberBtf(this.cacheDir, identity, btfPath);
    }
    const banner = identity?.banner;
    const catalog: HookCatalog = catalogFromBuffer(btf, banner ? { kernel: banner } : {}, 'the target kernel\'s BTF');
    const t1 = Date.now();

    const wanted = catalog.hooks
      .filter((h) => !selection.categories?.length || selection.categories.includes(h.category))
      .filter((h) => !selection.hooks?.length || selection.hooks.includes(h.name))
      .map((h) => h.name);
    if (selection.hooks?.length) {
      const unknown = selection.hooks.filter((h) => !catalog.hooks.some((x) => x.name === h));
      if (unknown.length) throw new Error(`no such hook on kernel ${catalog.kernelLabel}: ${unknown.join(', ')} (bpf-lsm hooks lists them)`);
    }
    if (wanted.length === 0) throw new Error('the category/hook selection matches no hook of this kernel');
    progress(`generating and compiling the tracer for ${wanted.length} hooks`);
    syscallTable ??= hostSyscallTable();
    const gen = generateTracer(catalog, { syscalls: syscallTable, hooks: wanted });
    const compiled = compileTracer(gen, { btfPath, headersDir: tracerHeadersDir(), cacheDir: join(this.cacheDir, 'tracer') });
    const t2 = Date.now();

    progress('loading the tracer');
    const programs = [...gen.hooks.map((h) => h.program), ...gen.fixedPrograms];
    const loaded = await this.client.loadObject(compiled.object, {
      name: 'bpf-lsm-tracer',
      programs,
      globals: { [KNOBS.followForks]: selection.follow !== false, [KNOBS.syscalls]: true },
      logLevel: 0,
    });
    this.objectId = loaded.objectId;
    const t3 = Date.now();

    progress(`attaching ${programs.length} programs`);
    const { results } = await this.client.call('attach', { objectId: loaded.objectId, programs });
    const t4 = Date.now();
    const refused = results.filter((r: AttachResult) => !r.ok);
    const fixedRefused = refused.filter((r) => (FIXED_PROGRAMS as readonly string[]).includes(r.program));
    if (fixedRefused.length) {
      throw new Error(`the tracer's own programs did not attach: ${fixedRefused.map((r) => `${r.program}: ${r.message ?? r.code}`).join('; ')}`);
    }
    const byProgram = new Map(gen.hooks.map((h) => [h.program, h.name]));
    const attached = results.filter((r) => r.ok && byProgram.has(r.program)).map((r) => byProgram.get(r.program)!);
    const notTraced = [
      ...gen.skipped.filter((s) => s.reason !== 'not selected').map((s) => ({ hook: s.hook, reason: s.reason })),
      ...refused.map((r) => ({ hook: byProgram.get(r.program) ?? r.program, reason: `refused by the kernel: ${r.message ?? r.code ?? 'unknown error'}` })),
    ];
    this.generation = gen;
    this.decoder = new TraceDecoder(gen.tables);
    const started = await this.client.startTrace({ objectId: loaded.objectId, ringBuffers: [EVENTS_MAP] }, (batch) => this.batchSink?.(batch));
    this.sessionId = started.sessionId;
    this.state = {
      kernel: catalog.kernelLabel,
      hookCount: catalog.hooks.length,
      attached,
      notTraced,
      timings: { btfMs: t1 - t0, compileMs: t2 - t1, loadMs: t3 - t2, attachMs: t4 - t3 },
      fromCache: compiled.fromCache,
      btfFromCache,
    };
    return this.state;
  }

  async counters(): Promise<TracerCounters> {
    if (this.objectId === undefined) throw new Error('the tracer is not loaded');
    const { value } = await this.client.call('getGlobal', { objectId: this.objectId, name: COUNTERS_GLOBAL });
    return sumCounterValue(value);
  }

  /** Adds a process to the traced set (its children follow in the kernel). */
  async traceProcess(pid: number): Promise<void> {
    if (this.objectId === undefined) throw new Error('the tracer is not loaded');
    await this.client.call('mapUpdate', { objectId: this.objectId, map: TRACED_MAP, key: hex(tracedKey(pid)), value: hex(tracedValue(pid)) });
  }

  /** How many processes are still in the traced set. */
  async tracedCount(): Promise<number> {
    if (this.objectId === undefined) return 0;
    const { entries } = await this.client.call('mapEntries', { objectId: this.objectId, map: TRACED_MAP, limit: 8192 });
    return entries.length;
  }

  /**
   * Routes decoded events of the tracer's ring buffer to `sink`, one call per helper batch, with the
   * batch's raw record count, the helper's running total of records it had to drop, and the batch's bytes.
   */
  onEvents(sink: ((events: TraceEvent[], records: number, helperDropped: number, bytes: number) => void) | undefined): void {
    const decoder = this.decoder;
    this.batchSink = sink && decoder ? (batch) => sink(decoder.decodeBatch(batch.records), batch.count, batch.helperDropped, batch.records.length) : undefined;
  }

  get decodeStats(): TraceDecoder['stats'] | undefined {
    return this.decoder?.stats;
  }

  get tracerGeneration(): TracerGeneration | undefined {
    return this.generation;
  }

  get traceSessionId(): number | undefined {
    return this.sessionId;
  }

  /** Ends the connection; the helper detaches and unloads everything it owns in the background. */
  async dispose(): Promise<void> {
    this.batchSink = undefined;
    await this.client.close().catch(() => undefined);
  }
}
