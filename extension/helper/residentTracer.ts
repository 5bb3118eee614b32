// The resident tracer of a target: the all-hooks tracer stays loaded and attached between helper sessions,
// so a trace after the first costs a map update instead of a load (seconds) and an attach of ~230 programs
// (seconds), and nobody waits for a detach (tens of seconds on 6.1, ftrace's RCU-tasks grace periods).
//
// What is kept, per tracer key (the compiled object's digest plus its knobs):
//   /sys/fs/bpf/bpf-lsm-studio/tracers/<key>/   the programs (prog_<program>) and their links
//                                                (link_<program>), which come and go (tracerKeeper.ts),
//                                                the shared maps (map_tr_traced, map_tr_maybe, map_tr_rings,
//                                                map_tr_counters)
//   /run/bpf-lsm-studio/tracers/<key>/           maps.bpf.o (to reopen the maps), meta.json (what is
//                                                attached, what the kernel refused, the idle time),
//                                                slot-<n> (pid of the session that owns trace slot n),
//                                                last-used (its mtime: when a trace last ended)
// Both live in memory file systems: a reboot (or `vm down`) leaves nothing behind. (bpffs refuses names
// with a dot: tracer keys are hex digits and "-f<follow>"; folders on their way in or out are named
// new-<key>-<pid> and release-<key>-<pid>-<time>.)
//
// A session reopens the tracer's maps-only object (bpf/tracer/tracer_maps.bpf.c, no program to load):
// libbpf reuses the pinned maps and creates the session's own ring buffer (tr_events), which the session puts into tr_rings at the slot it claimed. Its
// processes carry that slot in tr_traced, so their records reach only its ring and its counters row.
//
// Release (`bpf-lsm tracer stop`, idle time, a changed tracer) renames the pin folder out of the way at
// once, so the next trace never finds a tracer on its way out, and then unpins in a detached process:
// every unpin of a link waits for the kernel's detach, which is no one's critical path there.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { BpfObject, NativeBinding } from '../../native/index';
import { claimPidFile, pidAlive, readPidFile } from '../shared/pidFile';
import { writeFileAtomic } from '../shared/atomicWrite';
import { loadCpus } from './cpuPlacement';
import { forgetTraced, tracedEntries } from './tracedFilter';
import { detached, KEY_PATTERN, PIN_ROOT, RELEASE_FLAG, pinnedPrograms, startKeeper, STATE_ROOT } from './tracerProcesses';


/** Maps shared by every session of a resident tracer (bpf/tracer/tracer_maps.h). */
const SHARED_MAPS = ['tr_traced', 'tr_maybe', 'tr_rings', 'tr_counters'];
const RINGS_MAP = 'tr_rings';
export const SESSION_RING = 'tr_events';
const SLOTS = 8;

export interface TracerMeta {
  readonly key: string;
  readonly createdAt: number;
  /** Programs attached (and pinned). */
  readonly attached: string[];
  /** Programs the kernel refused to attach, with its reason. */
  readonly refused: Array<{ program: string; message: string }>;
  /** Released after this long without a trace; 0: never (until reboot or VM stop). */
  readonly idleMs: number;
  /** The hook programs' links are detached after this long without a trace; 0: never (absent: HOOKS_IDLE_MS). */
  readonly hooksIdleMs?: number;
}

export interface AcquireParams {
  readonly key: string;
  /** The compiled tracer and its maps-only object; needed only when no tracer with this key is resident. */
  readonly object?: Buffer;
  readonly mapsObject?: Buffer;
  readonly programs: readonly string[];
  /** Sets the knobs of a tracer about to be loaded (not called when one is reused). */
  readonly setup: (bpf: BpfObject) => void;
  readonly idleMs: number;
  readonly hooksIdleMs?: number;
}

export interface Acquired {
  readonly bpf: BpfObject;
  readonly slot: number;
  readonly reused: boolean;
  readonly meta: TracerMeta;
  readonly loadMs: number;
  readonly attachMs: number;
  /** Where the helper's time went, phase by phase (check, open, load, attach, pin, ...), for timings. */
  readonly phases: ReadonlyArray<{ phase: string; ms: number }>;
  /** Frees the slot (the session's ring leaves tr_rings); the object itself is the caller's to close. */
  release(): void;
  /** A trace started: the idle time counts from now. */
  used(): void;
}

export interface ResidentStatus {
  readonly key: string;
  readonly state: 'resident' | 'loading' | 'releasing' | 'incomplete';
  readonly links: number;
  /** Programs kept loaded with their links detached until a trace needs them (tracerKeeper.ts). */
  readonly idle: number;
  readonly tracesRunning: number;
  readonly idleMs: number;
  /** Milliseconds since the last trace ended (undefined while one runs or when never used). */
  readonly idleForMs?: number;
  readonly createdAt?: number;
}

export class TracerNeedsObject extends Error {}

/**
 * Where acquire's time goes: end(phase) closes the phase running since the previous end; time(phase, fn)
 * adds fn's run time to a phase that is interleaved with another (pins between attach batches) and
 * takes it out of the running one.
 */
class PhaseClock {
  private last = Date.now();
  private readonly sums = new Map<string, number>();
  private readonly order: string[] = [];

  private add(phase: string, ms: number): void {
    if (!this.sums.has(phase)) this.order.push(phase);
    this.sums.set(phase, (this.sums.get(phase) ?? 0) + ms);
  }

  end(phase: string): void {
    const now = Date.now();
    this.add(phase, now - this.last);
    this.last = now;
  }

  time<T>(phase: string, fn: () => T): T {
    const start = Date.now();
    try {
      return fn();
    } finally {
      const ms = Date.now() - start;
      this.add(phase, ms);
      this.last += ms;
    }
  }

  list(): Array<{ phase: string; ms: number }> {
    return this.order.map((phase) => ({ phase, ms: this.sums.get(phase)! }));
  }
}

const writeAtomic = (file: string, data: Buffer | string) => writeFileAtomic(file, data, 0o600);

export function readMeta(key: string): TracerMeta | undefined {
  try {
    return JSON.parse(readFileSync(join(STATE_ROOT, key, 'meta.json'), 'utf8')) as TracerMeta;
  } catch {
    return undefined;
  }
}

/** How many trace slots of the tracer `key` a live session holds. */
export function liveSlots(key: string): number {
  let n = 0;
  for (let s = 0; s < SLOTS; s++) if (pidAlive(readPidFile(join(STATE_ROOT, key, `slot-${s}`)))) n++;
  return n;
}

export function touch(file: string): void {
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    writeFileSync(file, '', { mode: 0o600 });
  }
}


/**
 * Serialises acquire/release of resident tracers between the helpers of one target (a lock folder). The
 * syscall links have their own lock (`name`), which a load of seconds does not hold.
 */
export async function withLock<T>(fn: () => Promise<T> | T, timeoutMs = 10 * 60_000, name = '.lock'): Promise<T> {
  mkdirSync(STATE_ROOT, { recursive: true, mode: 0o700 });
  const lock = join(STATE_ROOT, name);
  const deadline = Date.now() + timeoutMs;
  // Another helper may be loading and attaching the same tracer (seconds): wait for it, then reuse it.
  for (let delay = 20; !claimPidFile(lock); delay = Math.min(delay * 2, 250)) {
    if (Date.now() > deadline) throw new Error(`another helper (pid ${readPidFile(lock)}) has held the tracer lock for ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, delay));
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * Takes a tracer out of use at once (renames its pins away, drops its state) and unpins it in a detached
 * process. Sessions that still hold its object keep their fds until they end; nothing new can find it.
 */
export function releaseInBackground(key: string): boolean {
  const name = `release-${key}-${process.pid}-${Date.now()}`;
  try {
    renameSync(join(PIN_ROOT, key), join(PIN_ROOT, name));
  } catch {
    return false;
  }
  // The state goes along (a trace arriving meanwhile may take the tracer back, see takeBack).
  try {
    renameSync(join(STATE_ROOT, key), join(STATE_ROOT, name));
  } catch {
    // no state: nothing to take back with
  }
  detached(RELEASE_FLAG, join(PIN_ROOT, name));
  return true;
}

/**
 * Unpins everything under a released pin folder, links first (each detached before the next: a trace that takes
 * the tracer back attaches the unpinned ones again, which fails while an old link is still on its hook), then
 * maps, and drops its state. Stops as soon as the folder is gone: a new trace took the tracer back (takeBack).
 */
export async function unpinFolder(native: Pick<NativeBinding, 'detachPinnedLinks'>, dir: string): Promise<void> {
  if (!dir.startsWith(`${PIN_ROOT}/release-`)) throw new Error(`refusing to unpin ${dir}: not a released tracer folder`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  names.sort((a, b) => Number(b.startsWith('link_')) - Number(a.startsWith('link_')));
  for (const n of names) {
    if (!existsSync(dir)) return;
    try {
      if (n.startsWith('link_')) await native.detachPinnedLinks([join(dir, n)]);
      else unlinkSync(join(dir, n));
    } catch {
      // gone already, or the folder was taken back meanwhile
    }
  }
  try {
    rmdirSync(dir);
  } catch {
    // taken back meanwhile, or a concurrent releaser of the same folder finishes it
  }
  rmSync(join(STATE_ROOT, basename(dir)), { recursive: true, force: true });
}

/**
 * A tracer with `key` on its way out, taken back for a trace that wants it: renaming its folders back stops
 * the releaser before its next unpin, so the trace does not wait behind the detach (on 6.1 an attach waits
 * for a running detach's grace periods). Links already unpinned are attached again by the caller.
 */
function takeBack(key: string): boolean {
  let names: string[];
  try {
    names = readdirSync(PIN_ROOT).filter((n) => n.startsWith(`release-${key}-`) && existsSync(join(STATE_ROOT, n, 'meta.json')));
  } catch {
    return false;
  }
  for (const n of names.sort().reverse()) {
    try {
      renameSync(join(PIN_ROOT, n), join(PIN_ROOT, key));
    } catch {
      continue;
    }
    rmSync(join(STATE_ROOT, key), { recursive: true, force: true });
    renameSync(join(STATE_ROOT, n), join(STATE_ROOT, key));
    return true;
  }
  return false;
}

/**
 * The tracer key and the pid of the helper that named a pin root folder: `new-<key>-<pid>` while it creates a
 * tracer, `release-<key>-<pid>-<ms>` once it took one out of use. Read from the end: keys hold hyphens (`-f1-s0`).
 */
function folderParts(name: string): { key: string; pid: number } | undefined {
  const parts = name.split('-');
  const at = name.startsWith('new-') ? parts.length - 1 : name.startsWith('release-') ? parts.length - 2 : -1;
  if (at < 2) return undefined;
  const pid = Number(parts[at]);
  return Number.isSafeInteger(pid) && pid > 0 ? { key: parts.slice(1, at).join('-'), pid } : undefined;
}

/** The pid of the helper that named a pin root folder (see folderParts). */
export function folderCreator(name: string): number | undefined {
  return folderParts(name)?.pid;
}

/**
 * Keys of the tracers a session can take without sending the object, from the pin root's folder names:
 * pinned ones and ones under release (taken back when none of their programs is gone yet), not the ones
 * being created or swept. For the hello reply: one listing.
 */
export function reusableKeysOf(names: readonly string[]): string[] {
  const keys = new Set<string>();
  for (const n of names) {
    if (n.startsWith('new-') || n.startsWith('release-swept-')) continue;
    const key = n.startsWith('release-') ? folderParts(n)?.key : n;
    if (key !== undefined && KEY_PATTERN.test(key)) keys.add(key);
  }
  return [...keys];
}

export function reusableKeys(): string[] {
  try {
    return reusableKeysOf(readdirSync(PIN_ROOT));
  } catch {
    return [];
  }
}

/** Folders left by helpers that died while creating or releasing a tracer: release them again. */
function sweepAbandoned(): void {
  let names: string[];
  try {
    names = readdirSync(PIN_ROOT);
  } catch {
    return;
  }
  for (const n of names) {
    const creator = folderCreator(n);
    if (creator === undefined || pidAlive(creator)) continue;
    const to = join(PIN_ROOT, `release-swept-f0-${process.pid}-${Date.now()}`);
    try {
      renameSync(join(PIN_ROOT, n), to);
      detached(RELEASE_FLAG, to);
    } catch {
      // another helper swept it
    }
  }
}

export function residentStatus(): ResidentStatus[] {
  let names: string[];
  try {
    names = readdirSync(PIN_ROOT);
  } catch {
    return [];
  }
  const out: ResidentStatus[] = [];
  for (const n of names.sort()) {
    let links = 0;
    let idle = 0;
    try {
      const pins = readdirSync(join(PIN_ROOT, n));
      links = pins.filter((f) => f.startsWith('link_')).length;
      idle = pinnedPrograms(pins).detached.length;
    } catch {
      continue;
    }
    if (n.startsWith('new-') || n.startsWith('release-')) {
      const creator = folderCreator(n);
      const state = n.startsWith('release-') ? 'releasing' : creator !== undefined && pidAlive(creator) ? 'loading' : 'incomplete';
      out.push({ key: n, state, links, idle, tracesRunning: 0, idleMs: 0 });
      continue;
    }
    const meta = readMeta(n);
    const running = liveSlots(n);
    let idleForMs: number | undefined;
    try {
      if (!running) idleForMs = Date.now() - statSync(join(STATE_ROOT, n, 'last-used')).mtimeMs;
    } catch {
      // never used
    }
    out.push({ key: n, state: meta ? 'resident' : 'incomplete', links, idle, tracesRunning: running, idleMs: meta?.idleMs ?? 0, ...(idleForMs !== undefined ? { idleForMs } : {}), ...(meta ? { createdAt: meta.createdAt } : {}) });
  }
  return out;
}

/** Releases resident tracers (all, or the one with `key`); returns the keys taken out of use. */
export async function releaseResident(key?: string): Promise<string[]> {
  return withLock(() => {
    const keys = residentStatus()
      .filter((s) => s.state === 'resident' && (key === undefined || s.key === key))
      .map((s) => s.key);
    return keys.filter((k) => releaseInBackground(k));
  });
}

/**
 * Drops the traced processes a dead session left in `slot` (a SIGKILLed helper cannot kill them): their
 * records would otherwise reach the ring of the session that takes the slot over.
 */
function forgetSlotProcesses(bpf: BpfObject, slot: number): void {
  for (const e of tracedEntries(bpf)) if (e.slot === slot) forgetTraced(bpf, e);
}

function claimSlot(key: string): number {
  const dir = join(STATE_ROOT, key);
  for (let s = 0; s < SLOTS; s++) if (claimPidFile(join(dir, `slot-${s}`))) return s;
  throw new Error(`${SLOTS} traces are already running on this target's tracer; wait for one to end`);
}

export function openShared(open: () => BpfObject, pinDir: string, programs: readonly string[], setup?: (bpf: BpfObject) => void): BpfObject {
  const bpf = open();
  try {
    const wanted = new Set(programs);
    for (const p of bpf.programs()) bpf.setAutoload(p.name, wanted.has(p.name));
    setup?.(bpf);
    for (const m of bpf.maps()) {
      if (SHARED_MAPS.includes(m.name)) bpf.setMapPinPath(m.name, join(pinDir, `map_${m.name}`));
    }
    return bpf;
  } catch (err) {
    void bpf.close();
    throw err;
  }
}

/**
 * Pins an attached program's link and the program itself, and this object lets go of its link: the keeper
 * detaches links while no trace needs them (its unpin must detach even while the session that loaded the
 * tracer is still open), and a trace attaches them again from the pinned programs (tracerKeeper.ts).
 */
function pinAttached(bpf: BpfObject, program: string, dir: string): void {
  bpf.pinLink(program, join(dir, `link_${program}`));
  bpf.pinProgram(program, join(dir, `prog_${program}`));
  bpf.forgetLink(program);
}

/** The names in a tracer's pin folder; none when a release took the folder meanwhile. */
export function pinNames(pinDir: string): string[] {
  try {
    return readdirSync(pinDir);
  } catch {
    return [];
  }
}

/**
 * The resident tracer with `params.key` for this session: reopened when it is there, else loaded, attached
 * and pinned (TracerNeedsObject when that needs the object and none was given). Claims a trace slot and
 * points it at the session's own ring buffer.
 */
export async function acquireResident(native: NativeBinding, params: AcquireParams, check?: (object: Buffer) => Promise<void>): Promise<Acquired> {
  if (!KEY_PATTERN.test(params.key)) throw new Error(`"${params.key}" is not a tracer key`);
  const phases = new PhaseClock();
  return withLock(async () => {
    sweepAbandoned();
    // A changed tracer (other hooks, kernel or tracer version) replaces the others once nothing runs on them.
    for (const s of residentStatus()) if (s.state === 'resident' && s.key !== params.key && s.tracesRunning === 0) releaseInBackground(s.key);
    const stateDir = join(STATE_ROOT, params.key);
    const pinDir = join(PIN_ROOT, params.key);
    if (!existsSync(pinDir)) takeBack(params.key);
    let meta = existsSync(pinDir) ? readMeta(params.key) : undefined;
    if (existsSync(pinDir) && !meta) releaseInBackground(params.key);
    // Links a release (or a kernel refusal at the first attach) left out are attached again below.
    // One listing, not a stat per program: 233 existsSync calls were ~1.3 s of the daemon's main thread in a
    // profile of warm traces on the 6.1 VM (path.join and the stat each, under TCG).
    const pins = new Set(meta ? pinNames(pinDir) : []);
    // A program pinned without its link is only idle: the next trace attaches it (tracerKeeper.ts).
    const missing = meta ? meta.attached.filter((p) => !pins.has(`link_${p}`) && !pins.has(`prog_${p}`)) : [];
    let bpf: BpfObject;
    let reused = true;
    const t0 = Date.now();
    let t1 = t0;
    phases.end('lock');
    if (meta && missing.length) {
      if (!params.object) throw new TracerNeedsObject(`the tracer ${params.key} taken back from its release misses ${missing.length} program(s)`);
      await check?.(params.object);
      phases.end('check');
      bpf = openShared(() => native.BpfObject.openBuffer(params.object!, 'bpf-lsm-tracer'), pinDir, missing, params.setup);
      phases.end('open');
      try {
        await bpf.load(0, 1 << 20, undefined, loadCpus());
        phases.end('load');
        t1 = Date.now();
        const refused = [...meta.refused];
        for (let i = 0; i < missing.length; i += 32) {
          for (const r of await bpf.attach(missing.slice(i, i + 32))) {
            if (r.ok) phases.time('pin', () => pinAttached(bpf, r.program, pinDir));
            else refused.push({ program: r.program, message: r.message ?? r.code ?? 'refused' });
          }
        }
        const refusedNames = new Set(refused.map((r) => r.program));
        phases.end('attach');
        meta = { ...meta, attached: meta.attached.filter((p) => !refusedNames.has(p)), refused };
        writeAtomic(join(stateDir, 'meta.json'), JSON.stringify(meta));
      } catch (err) {
        void bpf.close();
        throw err;
      }
      reused = false;
    } else if (meta) {
      bpf = openShared(() => native.BpfObject.openFile(join(stateDir, 'maps.bpf.o')), pinDir, []);
      try {
        await bpf.load(0, 1 << 16);
      } catch (err) {
        void bpf.close();
        throw err;
      }
      t1 = Date.now();
      phases.end('reopen');
    } else {
      if (!params.object || !params.mapsObject) throw new TracerNeedsObject(`no tracer ${params.key} is resident on this target`);
      reused = false;
      await check?.(params.object);
      phases.end('check');
      const building = join(PIN_ROOT, `new-${params.key}-${process.pid}`);
      mkdirSync(building, { recursive: true, mode: 0o700 });
      bpf = openShared(() => native.BpfObject.openBuffer(params.object!, 'bpf-lsm-tracer'), building, params.programs, params.setup);
      phases.end('open');
      try {
        // The LSM programs are attached while the later ones load (the addon's load pipeline): on the 6.1
        // VM the two kernel phases took 1.4 s and 1.6 s one after the other.
        const loaded = await bpf.load(0, 1 << 20, params.programs, loadCpus());
        phases.end('load');
        t1 = Date.now();
        const attached: string[] = [];
        const refused: Array<{ program: string; message: string }> = [];
        for (const r of loaded.attached) {
          if (!r.ok) {
            refused.push({ program: r.program, message: r.message ?? r.code ?? 'refused' });
            continue;
          }
          phases.time('pin', () => pinAttached(bpf, r.program, building));
          attached.push(r.program);
        }
        phases.end('attach');
        meta = { key: params.key, createdAt: Date.now(), attached, refused, idleMs: params.idleMs, ...(params.hooksIdleMs !== undefined ? { hooksIdleMs: params.hooksIdleMs } : {}) };
        rmSync(stateDir, { recursive: true, force: true });
        mkdirSync(stateDir, { recursive: true, mode: 0o700 });
        writeAtomic(join(stateDir, 'maps.bpf.o'), params.mapsObject);
        writeAtomic(join(stateDir, 'meta.json'), JSON.stringify(meta));
        renameSync(building, pinDir);
        phases.end('state');
      } catch (err) {
        // Whatever was pinned goes with the folder; this session's links go when the object closes.
        void bpf.close();
        const to = join(PIN_ROOT, `release-${params.key}-${process.pid}-${Date.now()}`);
        try {
          renameSync(building, to);
          detached(RELEASE_FLAG, to);
        } catch {
          // nothing was pinned
        }
        rmSync(stateDir, { recursive: true, force: true });
        throw err;
      }
    }
    // Its keeper went with a release the tracer was taken back from (its idle time counts again from now).
    startKeeper(params.key);
    const t2 = Date.now();
    let slot: number;
    try {
      slot = claimSlot(params.key);
      touch(join(stateDir, 'last-used'));
      forgetSlotProcesses(bpf, slot);
      const key = Buffer.alloc(4);
      key.writeUInt32LE(slot);
      bpf.setInnerMap(RINGS_MAP, key, SESSION_RING);
      phases.end('slot');
    } catch (err) {
      void bpf.close();
      throw err;
    }
    const slotFile = join(stateDir, `slot-${slot}`);
    let released = false;
    const finalMeta = meta;
    return {
      bpf,
      slot,
      reused,
      meta: finalMeta,
      loadMs: t1 - t0,
      attachMs: reused ? 0 : t2 - t1,
      phases: phases.list(),
      used() {
        if (existsSync(stateDir)) touch(join(stateDir, 'last-used'));
      },
      release() {
        if (released) return;
        released = true;
        try {
          const key = Buffer.alloc(4);
          key.writeUInt32LE(slot);
          bpf.mapDelete(RINGS_MAP, key);
        } catch {
          // the object is closed or the tracer released: the slot's ring goes with it
        }
        if (readPidFile(slotFile) === process.pid) {
          rmSync(slotFile, { force: true });
          if (existsSync(stateDir)) touch(join(stateDir, 'last-used'));
        }
      },
    };
  });
}
