// Where the built-in VM's helper daemon runs: on the guest's last CPU, with every thread it has or starts,
// so that the ring consumer, the event writes to the helper channel and the object checks do not preempt a
// traced program on the CPU it runs on. Programs spawned for a trace get every CPU back before they exec.
//
// Measured in the 6.1 VM under TCG (2 vCPUs), a traced open/read/close loop: unpinned, the loop ran on its
// CPU for 0.85-0.89 of its wall time (the daemon's pool threads were scheduled onto the loop's CPU); with
// the daemon pinned, 0.97-0.98.
//
// Only the daemon pins itself (a VM the project owns); a helper on a local or ssh target shares the machine
// with the user's own work and leaves scheduling alone. taskset does the work: node has no
// sched_setaffinity, and the VM image has it (busybox's, so short options only); without it nothing is pinned.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'];

/** The spawn shell's command that gives it every CPU back, once the daemon pinned itself; '' otherwise. */
let widen = '';
/** CPUs a load may use once the daemon pinned itself (see loadCpus); 0 otherwise. */
let allCpus = 0;

/**
 * Pins this process (all its threads; later ones inherit) to the last CPU. Returns what was done, for the
 * daemon's log, or undefined when there is one CPU or no taskset.
 */
export function pinToLastCpu(): string | undefined {
  const cpus = availableParallelism();
  const taskset = TASKSET.find((p) => existsSync(p));
  if (cpus < 2 || !taskset) return undefined;
  const last = cpus - 1;
  try {
    execFileSync(taskset, ['-a', '-p', '-c', String(last), String(process.pid)], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return undefined;
  }
  widen = `${taskset} -p -c 0-${last} $$ >/dev/null 2>&1; `;
  allCpus = cpus;
  return `threads kept on CPU ${last} of ${cpus}; traced programs get CPUs 0-${last}`;
}

/**
 * Shell text run by the spawn shell before it stops itself: widens its own affinity again, so the program
 * it then execs (and that program's children) may run on every CPU. Empty when nothing was pinned.
 */
export function widenAffinityShell(): string {
  return widen;
}

/**
 * The `cpus` argument of a tracer load: every CPU once the daemon pinned itself, else undefined (no change).
 * A load is the kernel verifying ~230 programs in the loading thread while a second thread attaches the
 * LSM ones; kept on the daemon's one vCPU, the two took turns there while the other vCPU idled. A load
 * comes before its trace's program runs; only a trace of another tracer, running at that moment, shares its
 * CPU with the load for those seconds.
 */
export function loadCpus(): number | undefined {
  return allCpus > 0 ? allCpus : undefined;
}
