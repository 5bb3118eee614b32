// The keeper of a resident tracer: a detached helper process per tracer, started with it (tracerProcesses.ts),
// that wakes half a second after a trace starts or a session ends (a watch on the tracer's state folder), at
// growing intervals while a trace runs, every 5 s otherwise, and, once no trace has started (and no session
// ended) for a while and no live session has a process in the filter,
//   - detaches the syscall programs (tr_sys_enter, tr_sys_exit) after SYSCALL_IDLE_MS: attached, they run on
//     every syscall of every process on the target, traced or not;
//   - detaches the hot hooks' programs (HOT_HOOK_PROGRAMS) after HOT_HOOKS_IDLE_MS: attached, they run on the
//     hooks most processes call all the time (opens, reads, path lookups, mmap, capability checks);
//   - detaches the hook programs after the tracer's hooksIdleMs (HOOKS_IDLE_MS unless the client set it):
//     attached, every LSM hook call on the target goes through their BPF trampolines;
//   - releases the tracer once its idle time (a setting; 0 on the built-in VM: never) has passed.
// Detached programs stay loaded (pinned as programs), so a trace attaches them again instead of loading them
// (milliseconds for the two syscall programs, ~4 s for ~230 hooks on the 6.1 VM, against 6-7 s of load).
// A trace puts its process into the filter through withLinksAttached, which attaches them first, under the
// lock that the keeper's detaches take too: no process enters the filter while a program is detached. A
// session's acquire starts those attaches already (attachAhead), so that they overlap its setup and spawn.
import { appendFileSync, existsSync, readdirSync, renameSync, rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { NativeBinding } from '../../native/index';
import { claimPidFile, pidAlive, readPidFile } from '../shared/pidFile';
import { HOT_HOOK_PROGRAMS, SYSCALL_PROGRAMS } from '../shared/tracer/control';
import { forgetTraced, tracedEntries } from './tracedFilter';
import { liveSlots, openShared, pinNames, readMeta, releaseInBackground, SESSION_RING, touch, withLock, type TracerMeta } from './residentTracer';
import { keeperRuns, KEY_PATTERN, PIN_ROOT, pinnedPrograms, startKeeper, STATE_ROOT } from './tracerProcesses';

/**
 * How long the syscall programs stay attached once no process is traced: every other process pays for them
 * (1.2-1.4x on an open/read/close loop in the 6.1 VM), and a trace attaches them again in milliseconds.
 */
export const SYSCALL_IDLE_MS = 500;
/**
 * How long the hot hooks' programs stay attached after a trace: every other process pays their trampolines
 * (the same loop 1.15-1.2x with them, 1.03x without), and a trace attaches them again in ~0.15 s (22 programs
 * in the 6.1 VM; its acquire starts that ahead of its spawn). Detaching them costs more: ~0.13 s each on 6.1,
 * text patched on both vCPUs, trampolines freed after RCU grace periods. Detached half a second after each
 * trace (as the syscall programs are), that churn ran under every other process after every trace and the
 * next trace paid the attaches; traces repeated within seconds (a script, an edit-and-trace loop) pay neither.
 */
export const HOT_HOOKS_IDLE_MS = 10_000;
/**
 * How long the hook programs stay attached after a trace, unless the client set the tracer's hooksIdleMs:
 * a trace after that attaches them again before its program starts (~4 s for ~230 on the 6.1 VM).
 */
export const HOOKS_IDLE_MS = 10 * 60_000;
/** Taken by withLinksAttached and the keeper's detaches; a tracer load (seconds, under the tracer lock) does not hold it. */
const LINKS_LOCK = '.links-lock';
/** A trace waits at most this long for a detach of the keeper's to finish. */
const LINKS_LOCK_MS = 30_000;

/**
 * Whether a live session has live processes in the tracer's filter: the idle clock alone cannot tell a long
 * trace (no request for minutes) from a connection left open with nothing traced. Entries of processes that
 * are gone are not counted (tr_exit misses the exits of the moments its link is away, in a release a trace
 * takes back); with `dropGone` they are deleted too, which only a caller holding the syscall lock may do: a
 * session adds a process under it, and a new process may have that pid again.
 */
async function tracing(native: NativeBinding, key: string, dropGone = false): Promise<boolean> {
  // No session holds a slot: none of the filter's entries is live, and opening the maps (6-9 ms of the TCG
  // guest's CPU) can wait. Entries of gone processes stay meanwhile; a session that claims their slot drops
  // them first (forgetSlotProcesses), and a dead slot has no ring for a process with their pid to write to.
  if (liveSlots(key) === 0) return false;
  // Without the 8 MiB ring a session reads from, which the look never does: creating and freeing it took
  // ~12 ms of system CPU a look in the 6.1 VM (an open 6-9 ms without it, 21 ms with it).
  const bpf = openShared(() => native.BpfObject.openFile(join(STATE_ROOT, key, 'maps.bpf.o')), join(PIN_ROOT, key), [], (o) => o.setMapAutocreate(SESSION_RING, false));
  try {
    await bpf.load(0, 1 << 16);
    let live = false;
    // Each slot's session looked at once per call, when its first entry comes (a filter may hold thousands).
    const slots = new Map<number, boolean>();
    const slotLive = (slot: number): boolean => {
      let alive = slots.get(slot);
      if (alive === undefined) slots.set(slot, (alive = pidAlive(readPidFile(join(STATE_ROOT, key, `slot-${slot}`)))));
      return alive;
    };
    for (const e of tracedEntries(bpf)) {
      if (!pidAlive(e.pid)) {
        if (dropGone) forgetTraced(bpf, e);
      } else if (slotLive(e.slot)) {
        live = true;
        if (!dropGone) break;
      }
    }
    return live;
  } finally {
    await bpf.close();
  }
}

/** A release of the tracer `key` is under way (its pin folder renamed away, still being unpinned). */
function releaseUnderWay(key: string): boolean {
  try {
    return readdirSync(PIN_ROOT).some((n) => n.startsWith(`release-${key}-`));
  } catch {
    return false;
  }
}

/** The names in the tracer's pin folder (none while it is away). */
const pins = (key: string) => new Set(pinNames(join(PIN_ROOT, key)));

/** Those of `programs` whose link is pinned (attached), from a listing of the tracer's pin folder. */
const attachedOf = (names: Set<string>, programs: readonly string[]): string[] => programs.filter((p) => names.has(`link_${p}`));

/** The tracer's hook programs that are attached and pinned as programs too (so a trace can attach them again). */
const attachedHooks = (names: Set<string>): string[] => pinnedPrograms(names).attached.filter((p) => !SYSCALL_PROGRAMS.includes(p));

/**
 * Runs `write` (an update of the tracer's filter) once every program of the tracer is attached: the ones the
 * keeper detached are attached again from their pinned programs first.
 */
export async function withLinksAttached(native: NativeBinding, key: string, write: () => void): Promise<void> {
  if (!KEY_PATTERN.test(key)) throw new Error(`"${key}" is not a tracer key`);
  // This helper's attaches ahead of this trace hold the lock now: waiting for them beats polling for it.
  await ahead.get(key);
  await attachDetached(native, key, write);
}

/** Attaches started by a session's acquire, by tracer key (one at a time per key in this helper). */
const ahead = new Map<string, Promise<void>>();

/**
 * Starts attaching the programs the keeper detached, without waiting for them: called as a session acquires
 * the tracer, so that the attaches (~0.15 s for the hot hooks' programs on the 6.1 VM) overlap the session's
 * setup and its program's spawn instead of coming between the spawn and the resume. A failure is left to the
 * trace's own withLinksAttached, which tries again and reports it.
 */
export function attachAhead(native: () => NativeBinding, key: string): void {
  if (!KEY_PATTERN.test(key) || ahead.has(key) || pinnedPrograms(pins(key)).detached.length === 0) return;
  const attaching = Promise.resolve()
    .then(() => attachDetached(native(), key, () => undefined))
    .catch(() => undefined)
    .finally(() => ahead.delete(key));
  ahead.set(key, attaching);
}

async function attachDetached(native: NativeBinding, key: string, write: () => void): Promise<void> {
  await withLock(
    async () => {
      const dir = join(PIN_ROOT, key);
      const detached = pinnedPrograms(pins(key)).detached;
      const t0 = Date.now();
      if (detached.length) await native.attachPinnedPrograms(detached.map((p) => [join(dir, `prog_${p}`), join(dir, `link_${p}`)] as const));
      if (detached.length > 2) keeperLog(key, `attached ${detached.length} programs again in ${Date.now() - t0} ms`, 'trace');
      write();
      // Under the lock, so that the keeper's next look at the last use, under it too, sees this trace.
      if (existsSync(join(STATE_ROOT, key))) touch(join(STATE_ROOT, key, 'last-used'));
    },
    LINKS_LOCK_MS,
    LINKS_LOCK,
  );
  // Every trace makes sure its tracer has a keeper, whatever ended the last one.
  startKeeper(key);
}

function lastUsed(key: string, meta: TracerMeta): number {
  try {
    return Math.max(meta.createdAt, statSync(join(STATE_ROOT, key, 'last-used')).mtimeMs);
  } catch {
    return meta.createdAt; // never used since it was created
  }
}

/**
 * Whether no trace has started for `idleMs` and no live session has a live process in the filter; for a
 * caller holding the links lock (it drops the filter's entries of processes that are gone). A long trace
 * counts as a use: the next question comes after another idle period, not at the next wakeup.
 */
async function quietFor(native: NativeBinding, key: string, meta: TracerMeta, idleMs: number): Promise<boolean> {
  if (Date.now() - lastUsed(key, meta) < idleMs) return false;
  if (!(await tracing(native, key, true).catch(() => true))) return true;
  touchLastUsed(key);
  return false;
}

/**
 * Detaches `programs` (those of them attached) once the tracer has been quiet for `idleMs`: one at a time (an
 * unpin may wait for an earlier detach in the kernel), each under the lock, and none after a trace has started
 * since the quiet check (every trace touches last-used under the lock as it attaches what was detached), so a
 * traced process never runs with a program of its trace detached. How many it detached, of how many.
 */
async function detachQuiet(native: NativeBinding, key: string, meta: TracerMeta, idleMs: number, programs: readonly string[]): Promise<{ detached: number; of: number; ms: number }> {
  const dir = join(PIN_ROOT, key);
  const quiet = await withLock(async () => ((await quietFor(native, key, meta, idleMs)) ? lastUsed(key, meta) : undefined), LINKS_LOCK_MS, LINKS_LOCK);
  if (quiet === undefined) return { detached: 0, of: 0, ms: 0 };
  const attached = attachedOf(pins(key), programs);
  const t0 = Date.now();
  let n = 0;
  for (const p of attached) {
    // Detached when the unpin returns (detachPinnedLinks): a trace that takes the lock next and attaches the
    // program again must not find its old link still on the hook (6.12 releases a link removed by rm a moment
    // later, in a kernel worker, and the attach meanwhile fails with EBUSY).
    const unpin = async () => {
      if (lastUsed(key, meta) !== quiet) return false;
      await native.detachPinnedLinks([join(dir, `link_${p}`)]);
      return true;
    };
    if (!(await withLock(unpin, LINKS_LOCK_MS, LINKS_LOCK))) break;
    n++;
  }
  return { detached: n, of: attached.length, ms: Date.now() - t0 };
}

/** Detaches the hook programs after the tracer's hooksIdleMs without a trace. */
async function detachIdleHooks(native: NativeBinding, key: string, meta: TracerMeta, idleMs: number): Promise<void> {
  const r = await detachQuiet(native, key, meta, idleMs, attachedHooks(pins(key)));
  if (r.of) keeperLog(key, `detached ${r.detached} of ${r.of} hook programs in ${r.ms} ms${r.detached < r.of ? ': a trace started' : ''}`);
}

/** The keepers' log: each keeper's start, each detach and why it left (a release takes a tracer's state folder away). */
export const KEEPER_LOG = join(STATE_ROOT, 'keepers.log');
const KEEPER_LOG_BYTES = 256 * 1024;

export function keeperLog(key: string, line: string, who = 'keeper'): void {
  if (!KEY_PATTERN.test(key)) return;
  try {
    if ((statSync(KEEPER_LOG, { throwIfNoEntry: false })?.size ?? 0) > KEEPER_LOG_BYTES) renameSync(KEEPER_LOG, `${KEEPER_LOG}.1`);
    appendFileSync(KEEPER_LOG, `${new Date().toISOString()} ${key} ${who} ${process.pid}: ${line}\n`, { mode: 0o600 });
  } catch {
    // no state root (nothing was ever resident) or no room: the log is only a diagnosis
  }
}

/**
 * Runs until the tracer is gone (released by anyone, or by this keeper after its idle time). A connection
 * kept open without tracing keeps neither the syscall programs attached nor the tracer resident.
 */
export async function runKeeper(native: NativeBinding, key: string): Promise<void> {
  if (!KEY_PATTERN.test(key)) return;
  const pidFile = join(STATE_ROOT, key, 'keeper');
  // startKeeper names the keeper it starts; one started otherwise claims the file. A keeper killed earlier
  // may have left its pid to another process.
  if (readPidFile(pidFile) !== process.pid) {
    if (!keeperRuns(key)) rmSync(pidFile, { force: true });
    if (!claimPidFile(pidFile)) return keeperLog(key, `not started: keeper ${readPidFile(pidFile)} runs`);
  }
  keeperLog(key, 'started');
  const sleep = new KeeperSleep(join(STATE_ROOT, key));
  try {
    await keep(native, key, pidFile, sleep);
  } finally {
    sleep.close();
  }
}

/** The mtime of the keeper's own last touch of last-used: its state folder's watch does not wake it for that. */
let ownLastUse = 0;

function touchLastUsed(key: string): void {
  const file = join(STATE_ROOT, key, 'last-used');
  touch(file);
  ownLastUse = statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0;
}

/** What the keeper does at a wakeup: what to detach (once quiet for `idleMs`), and how long to sleep after. */
export interface KeeperStep {
  readonly detach?: 'syscalls' | 'hot' | 'hooks';
  readonly idleMs: number;
  readonly waitMs: number;
}

/**
 * The keeper's next step, from which of the tracer's programs are attached (the syscall ones, the hot hooks'
 * ones, any other hook's), how long no trace has started, the tracer's hooksIdleMs (0: never), how long until
 * the keeper may look at a running trace again, and its usual sleep. Detaches go in that order, each once its
 * idle time has passed: SYSCALL_IDLE_MS, HOT_HOOKS_IDLE_MS (no later than hooksIdleMs), hooksIdleMs.
 */
export function keeperStep(s: { syscalls: boolean; hot: boolean; hooks: boolean; idleFor: number; hooksIdleMs: number; untilLook: number; waitMs: number }): KeeperStep {
  const hotIdleMs = s.hooksIdleMs > 0 ? Math.min(HOT_HOOKS_IDLE_MS, s.hooksIdleMs) : HOT_HOOKS_IDLE_MS;
  if (s.syscalls) {
    if (s.idleFor < SYSCALL_IDLE_MS || s.untilLook > 0) return { idleMs: SYSCALL_IDLE_MS, waitMs: Math.max(SYSCALL_IDLE_MS - s.idleFor, s.untilLook, 50) };
    return { detach: 'syscalls', idleMs: SYSCALL_IDLE_MS, waitMs: s.hot ? Math.min(s.waitMs, hotIdleMs) : s.waitMs };
  }
  if (s.hot) {
    if (s.idleFor < hotIdleMs) return { idleMs: hotIdleMs, waitMs: Math.min(s.waitMs, hotIdleMs - s.idleFor + 50) };
    return { detach: 'hot', idleMs: hotIdleMs, waitMs: s.waitMs };
  }
  if (s.hooks && s.hooksIdleMs > 0 && s.idleFor >= s.hooksIdleMs) return { detach: 'hooks', idleMs: s.hooksIdleMs, waitMs: s.waitMs };
  return { idleMs: s.hooksIdleMs, waitMs: s.waitMs };
}

/** Most wakeups at which the keeper found a trace running before it asks again at the longest interval (5 s). */
const BUSY_BACKOFF_STEPS = 4;

async function keep(native: NativeBinding, key: string, pidFile: string, sleep: KeeperSleep): Promise<void> {
  // While a trace runs, each look at the filter opens the tracer's maps: the looks come at longer intervals
  // the longer it runs (0.5, 1, 2, 4, then every 5 s), and at once again when a session starts or ends.
  let busyLooks = 0;
  let nextLook = 0;
  for (let wait = 1000; ; ) {
    if (await sleep.for(wait)) {
      busyLooks = 0;
      nextLook = 0;
    }
    if (!existsSync(join(PIN_ROOT, key))) {
      // Released: a trace may still take it back, and its folders (this keeper's pid file with them) return.
      // Looked at in this order (the take-back renames the release folder to the key at once), or a take-back
      // between the two looks would end this keeper while its pid file comes back naming it.
      if (releaseUnderWay(key) || existsSync(join(PIN_ROOT, key))) continue;
      return keeperLog(key, 'left: the tracer was released');
    }
    // A tracer made again under this key has a keeper of its own. (No pid file or meta for a moment: a trace
    // is taking the tracer back, its state folder follows its pin folder.)
    const owner = readPidFile(pidFile);
    if (owner !== process.pid && owner > 0) return keeperLog(key, `left: keeper ${owner} owns the tracer`);
    const meta = readMeta(key);
    if (owner !== process.pid || !meta) continue;
    // A wakeup of node costs ~6 ms of the TCG guest's CPU: every 5 s once the syscall programs are detached,
    // unless the idle release is due sooner; a change in the tracer's state folder (a trace's start or end
    // touches last-used, a session's slot comes or goes) wakes the keeper SYSCALL_IDLE_MS later.
    const names = pins(key);
    const hooksIdleMs = meta.hooksIdleMs ?? HOOKS_IDLE_MS;
    const step = keeperStep({
      syscalls: attachedOf(names, SYSCALL_PROGRAMS).length > 0,
      hot: attachedOf(names, HOT_HOOK_PROGRAMS).length > 0,
      hooks: attachedHooks(names).length > 0,
      idleFor: Date.now() - lastUsed(key, meta),
      hooksIdleMs,
      untilLook: Math.max(0, nextLook - Date.now()),
      waitMs: meta.idleMs > 0 && meta.idleMs < 60_000 ? 1000 : 5000,
    });
    wait = step.waitMs;
    const failed = (err: Error) => {
      keeperLog(key, `detach failed: ${err.message}`);
      return undefined;
    };
    if (step.detach === 'syscalls') {
      const done = await detachQuiet(native, key, meta, SYSCALL_IDLE_MS, SYSCALL_PROGRAMS).catch(failed);
      if (done?.of) {
        keeperLog(key, `detached the syscall programs${done.detached < done.of ? ` (${done.detached} of ${done.of}: a trace started)` : ''}`);
        busyLooks = 0;
      } else {
        busyLooks = Math.min(busyLooks + 1, BUSY_BACKOFF_STEPS);
        nextLook = Date.now() + Math.min(5000, SYSCALL_IDLE_MS * 2 ** busyLooks);
        wait = nextLook - Date.now();
      }
    } else if (step.detach === 'hot') {
      const done = await detachQuiet(native, key, meta, step.idleMs, HOT_HOOK_PROGRAMS).catch(failed);
      if (done?.of) keeperLog(key, `detached ${done.detached} of ${done.of} hot hook programs in ${done.ms} ms${done.detached < done.of ? ': a trace started' : ''}`);
    } else if (step.detach === 'hooks') {
      await detachIdleHooks(native, key, meta, step.idleMs).catch(failed);
    }
    if (meta.idleMs <= 0 || Date.now() - lastUsed(key, meta) < meta.idleMs) continue;
    if (await tracing(native, key).catch(() => false)) {
      touchLastUsed(key);
      continue;
    }
    keeperLog(key, 'left: releasing the idle tracer');
    await withLock(() => releaseInBackground(key));
    return;
  }
}

/**
 * The keeper's sleep between looks, cut short (to SYSCALL_IDLE_MS from then) by a change in the tracer's state
 * folder: a trace that starts touches last-used as it attaches the syscall programs, and a session that ends
 * gives its slot back. The folder goes with a release and comes back with a take-back: watched again then.
 */
class KeeperSleep {
  private watcher: FSWatcher | undefined;
  private watchedIno = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private deadline = 0;
  private wake: (() => void) | undefined;
  private changed = false;

  constructor(private readonly dir: string) {}

  /** Sleeps `ms`, less after a change in the folder; true when one came since the last call. */
  for(ms: number): Promise<boolean> {
    this.rewatch();
    // A change while the keeper was busy (not asleep) counts from now.
    if (this.changed) ms = Math.min(ms, SYSCALL_IDLE_MS + 50);
    return new Promise((resolve) => {
      const done = () => {
        this.timer = undefined;
        this.wake = undefined;
        const changed = this.changed;
        this.changed = false;
        resolve(changed);
      };
      this.wake = done;
      this.deadline = Date.now() + ms;
      this.timer = setTimeout(done, ms);
    });
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private rewatch(): void {
    let ino = 0;
    try {
      ino = statSync(this.dir).ino;
    } catch {
      // released: nothing to watch until a take-back brings the folder back
    }
    if (ino === this.watchedIno && this.watcher) return;
    this.watcher?.close();
    this.watcher = undefined;
    this.watchedIno = ino;
    if (!ino) return;
    try {
      this.watcher = watch(this.dir, { persistent: false }, (_event, name) => {
        // A trace's start or a session's end (last-used, not the keeper's own touch), a slot taken or given back.
        const file = String(name ?? '');
        if (file === 'last-used' && statSync(join(this.dir, file), { throwIfNoEntry: false })?.mtimeMs === ownLastUse) return;
        if (file === 'last-used' || file.startsWith('slot-')) this.soon();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // the keeper's own timer still comes
    }
  }

  private soon(): void {
    this.changed = true;
    const at = Date.now() + SYSCALL_IDLE_MS + 50;
    if (!this.wake || at >= this.deadline) return;
    if (this.timer) clearTimeout(this.timer);
    this.deadline = at;
    this.timer = setTimeout(this.wake, at - Date.now());
  }
}
