// Where resident tracers live on a target, and the detached helper processes that outlive the sessions which
// start them: a tracer's keeper (tracerKeeper.ts) and the unpinning of a released tracer (residentTracer.ts).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../shared/atomicWrite';
import { readPidFile } from '../shared/pidFile';

/** Pinned links, programs and shared maps, per tracer key (residentTracer.ts says what). */
export const PIN_ROOT = '/sys/fs/bpf/bpf-lsm-studio/tracers';
/** Each tracer's state: its maps object, meta, trace slots, last use and keeper pid. */
export const STATE_ROOT = '/run/bpf-lsm-studio/tracers';
/** Tracer keys: the object's digest and "-f<follow>" (bpffs refuses names with a dot). */
export const KEY_PATTERN = /^[0-9a-z-]{8,80}$/;
/** helper.js flags of the detached processes. */
export const KEEPER_FLAG = '--tracer-keeper';
export const RELEASE_FLAG = '--tracer-release';

/**
 * Of a tracer's pin names, its programs pinned as programs (so that they can be attached again), split by
 * whether their link is pinned too: `detached` are the ones the keeper detached.
 */
export function pinnedPrograms(names: Iterable<string>): { attached: string[]; detached: string[] } {
  const all = new Set(names);
  const out = { attached: [] as string[], detached: [] as string[] };
  for (const n of all) if (n.startsWith('prog_')) (all.has(`link_${n.slice(5)}`) ? out.attached : out.detached).push(n.slice(5));
  return out;
}

/**
 * Starts a detached helper process that outlives this one (stdio closed, own session). `nice`: at the lowest
 * priority, for a keeper, whose start (node and the helper's bundle: 2-4 s of CPU in the TCG guest) would
 * otherwise compete with the trace that just loaded the tracer.
 */
export function detached(flag: string, arg: string, nice = false): number | undefined {
  const child = spawn(process.execPath, [process.argv[1], flag, arg], { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  if (nice && child.pid !== undefined) {
    try {
      setPriority(child.pid, 19);
    } catch {
      // it runs at the default priority
    }
  }
  child.unref();
  return child.pid;
}

/**
 * Starts the tracer's keeper (tracerKeeper.ts) unless it runs: it detaches the syscall programs while no
 * trace runs, and releases the tracer after its idle time.
 */
export function startKeeper(key: string): void {
  if (keeperRuns(key)) return;
  const pid = detached(KEEPER_FLAG, key, true);
  // Its pid file names it from now on, so that the traces of the next seconds do not start more keepers while
  // this one starts (node and the bundle: 2-4 s of CPU in the TCG guest). Of keepers started at once, the one
  // named last stays; the others leave.
  try {
    if (pid !== undefined) writeFileAtomic(join(STATE_ROOT, key, 'keeper'), String(pid), 0o600);
  } catch {
    // released meanwhile: the keeper finds no tracer and leaves
  }
}

/** Whether the pid in the tracer's keeper file is that tracer's keeper (not a process that got its pid later). */
export function keeperRuns(key: string): boolean {
  const pid = readPidFile(join(STATE_ROOT, key, 'keeper'));
  try {
    return pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${KEEPER_FLAG}\0${key}`);
  } catch {
    return false;
  }
}
