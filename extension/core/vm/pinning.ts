// Host cores for the built-in VM's vCPU threads. Under TCG every vCPU is a busy host thread, and qemu's main
// thread serves the devices (the helper channels' virtio-serial ports among them). When the host has no core
// to spare beyond one per vCPU, the host scheduler moves these threads between its cores, and a traced
// program's vCPU kept sharing a core with the vCPU that runs the helper's ring consumer and with qemu's main
// thread. Measured on a 2-core host, 6.1 guest, traced `trace_loop 20000` through the CLI (bench/trace-notes.md):
// loop median 760 ms with the vCPUs on a core each against 926 ms unpinned, untraced unchanged.
//
// So on such a host each vCPU gets a core of its own (of the cores this process may use), and qemu's main
// thread goes with the last vCPU, where the guest runs the helper daemon; a tracing client keeps its own
// threads there while a traced program runs (keepNearHelper). A host with more cores is left to its
// scheduler. BPF_LSM_VM_PIN=0 never pins, =1 always does.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';

/** A kernel CPU list ("0-3,8,10-11") as numbers; empty for text of another shape. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return [];
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to - from > 4096) return [];
    for (let c = from; c <= to; c++) out.push(c);
  }
  return out;
}

/** The host CPUs this process may run on (its affinity), from /proc/self/status; empty when unknown. */
export function allowedHostCpus(status = '/proc/self/status'): number[] {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(status, 'utf8'));
    return m ? parseCpuList(m[1]) : [];
  } catch {
    return [];
  }
}

/** vCPU index -> host thread id, from the human monitor's `info cpus` ("* CPU #0: thread_id=7077"). */
export function parseVcpuThreads(info: string): Map<number, number> {
  const threads = new Map<number, number>();
  for (const m of info.matchAll(/CPU #(\d+):.*?\bthread_id=(\d+)/g)) threads.set(Number(m[1]), Number(m[2]));
  return threads;
}

/**
 * The host core of each vCPU, or undefined to leave the threads to the host's scheduler: pinned when the
 * host has no more usable cores than the VM has vCPUs (or when `setting` is "1"), never when it is "0".
 */
export function vcpuCores(hostCpus: readonly number[], vcpus: number, setting: string | undefined): number[] | undefined {
  if (setting === '0' || hostCpus.length === 0 || vcpus < 1) return undefined;
  if (setting !== '1' && hostCpus.length > vcpus) return undefined;
  return Array.from({ length: vcpus }, (_, i) => hostCpus[i % hostCpus.length]);
}

export interface Pinning {
  /** Host core of each vCPU, in vCPU order. */
  readonly cores: number[];
}

/**
 * Pins a running VM's vCPU threads (and qemu's main thread, with the last vCPU) as vcpuCores says. Returns
 * what it did, undefined when the policy leaves the VM alone; throws with the reason when it could not.
 */
export async function pinVcpus(qemuPid: number, vcpus: number, cpusInfo: () => Promise<string>): Promise<Pinning | undefined> {
  const cores = vcpuCores(allowedHostCpus(), vcpus, process.env.BPF_LSM_VM_PIN);
  if (!cores) return undefined;
  const threads = parseVcpuThreads(await cpusInfo());
  if (threads.size !== vcpus) throw new Error(`qemu's monitor listed ${threads.size} vCPU thread(s), not ${vcpus}`);
  const moves: Array<[number, number]> = [...threads].map(([vcpu, tid]) => [tid, cores[vcpu]]);
  moves.push([qemuPid, cores[vcpus - 1]]);
  for (const [tid, core] of moves) {
    let r;
    try {
      r = await execa('taskset', ['-p', '-c', String(core), String(tid)], { reject: false, stdin: 'ignore', timeout: 5000 });
    } catch (err) {
      throw new Error((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'taskset is missing (Debian package util-linux)' : (err as Error).message);
    }
    if (r.exitCode !== 0) throw new Error(`taskset -p -c ${core} ${tid} failed: ${String(r.stderr).trim()}`);
  }
  return { cores };
}

/** The host core of the VM's last vCPU when its vCPUs are pinned and this process may use it; else undefined. */
export function helperCore(pinnedCores: readonly number[] | undefined, allowed: readonly number[], setting: string | undefined): number | undefined {
  const core = pinnedCores?.[pinnedCores.length - 1];
  return core === undefined || setting === '0' || !allowed.includes(core) ? undefined : core;
}

/**
 * Keeps this process (or `pid`), every thread of it, to the host core of the VM's last vCPU (where the guest
 * runs the helper daemon and qemu's main thread serves the channels), when the VM's vCPUs are pinned.
 * For a tracing client (the CLI, the editor), which decodes every event while the traced program runs: on such a host it
 * otherwise shares a core with the traced program's vCPU. Traced trace_loop 20000 through the CLI, 2-core
 * host (bench/trace-notes.md): 528-574 ms kept there against 792-982 ms left to the scheduler; a traced
 * trace_loop 5000 ran as fast as with the helper stopped for the loop (136-146 against 131-155 ms). Returns the
 * core, or undefined when it left the process alone (no pinning, the core not allowed, taskset failed).
 */
export async function keepToHelperCore(pinnedCores: readonly number[] | undefined, pid = process.pid): Promise<number | undefined> {
  const core = helperCore(pinnedCores, allowedHostCpus(), process.env.BPF_LSM_VM_PIN);
  if (core === undefined) return undefined;
  return (await keepThreadsTo([core], pid)) ? core : undefined;
}

/** Every thread of `pid` to these host cores (taskset -a); false when taskset is missing or refused. */
async function keepThreadsTo(cores: readonly number[], pid: number): Promise<boolean> {
  const r = await execa('taskset', ['-a', '-p', '-c', cores.join(','), String(pid)], { reject: false, stdin: 'ignore', timeout: 5000 }).catch(() => undefined);
  return r?.exitCode === 0;
}

/** The traces of this process that keep it near the helper, the cores it had before the first, whether it moved. */
const near = { holders: 0, before: [] as number[], moved: false };
/** Moves and moves back one at a time, in the order asked. */
let placing: Promise<unknown> = Promise.resolve();
function inTurn<T>(step: () => Promise<T>): Promise<T> {
  const done = placing.then(step);
  placing = done.catch(() => undefined);
  return done;
}

/**
 * keepToHelperCore for the length of a trace: this process keeps to the helper vCPU's core until every trace
 * that asked has given it back (the returned function), then gets the cores it had back. Undefined, and nothing
 * done, when the VM's vCPUs are not pinned.
 */
export async function keepNearHelper(pinnedCores: readonly number[] | undefined): Promise<(() => Promise<void>) | undefined> {
  if (helperCore(pinnedCores, allowedHostCpus(), process.env.BPF_LSM_VM_PIN) === undefined) return undefined;
  await inTurn(async () => {
    if (near.holders++ > 0) return;
    near.before = allowedHostCpus();
    near.moved = (await keepToHelperCore(pinnedCores)) !== undefined;
  });
  let given = false;
  return () => {
    if (given) return Promise.resolve();
    given = true;
    return inTurn(async () => {
      if (--near.holders > 0 || !near.moved || near.before.length === 0) return;
      near.moved = false;
      await keepThreadsTo(near.before, process.pid);
    });
  };
}
