// Event flood through the whole trace path (issue 9): a traced program opens a file as fast as it can for
// BPF_LSM_BENCH_FLOOD_SECONDS (default 60) on the built-in VM, with the tracer on file_open and its syscall
// programs. Prints what each hop did (kernel ring, helper, client decoder) and whether the totals reconcile:
// records the kernel attempted = delivered + counted drops. Uses the running VM of $BPF_LSM_CACHE, or boots
// one (and stops it afterwards).
import { loadavg } from 'node:os';
import { vmTarget } from '../extension/core/targets/vm';
import { TracerSession } from '../extension/core/trace/tracerSession';
import { traceProgram } from '../extension/core/trace/traceProgram';
import { BuiltinVm } from '../extension/core/vm/vm';
import { readState } from '../extension/core/vm/machine';
import { vmPaths } from '../extension/core/vm/paths';
import { buildFloodProgram, floodOpens } from '../test/fixtures/malformed/flood';

async function main(): Promise<void> {
  const seconds = Number(process.env.BPF_LSM_BENCH_FLOOD_SECONDS || 60);
  const paths = vmPaths();
  const vm = new BuiltinVm(paths);
  const startedHere = !readState(paths);
  if (startedHere) console.log(`booted the VM in ${((await vm.up()).totalMs / 1000).toFixed(1)} s`);
  console.log(`host load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const target = vmTarget(paths);
  const remote = '/tmp/bpf-lsm-flood';
  await target.copyTo([{ local: buildFloodProgram(), remote }]);
  const session = await TracerSession.connect(target);
  try {
    const state = await session.prepare({ hooks: ['file_open'] });
    console.log(`tracer: ${state.attached.length} hook(s) + syscall/fork/exec/exit programs, load ${state.timings.loadMs} ms, attach ${state.timings.attachMs} ms`);
    let output = '';
    let events = 0;
    let batches = 0;
    const before = await session.counters();
    const t = Date.now();
    const cpu = process.cpuUsage();
    const summary = await traceProgram(session, { argv: [remote, String(seconds)], asRoot: true, onOutput: (_s, text) => (output += text) }, (e) => {
      events += e.length;
      batches++;
    });
    const wallMs = Date.now() - t;
    const cpuMs = (process.cpuUsage(cpu).user + process.cpuUsage(cpu).system) / 1000;
    const after = await session.counters();
    const attempts = after.records + after.ringbufFull + after.nested - (before.records + before.ringbufFull + before.nested);
    const counted = summary.drops.kernel + summary.drops.helper + summary.drops.undecodable;
    const rate = (n: number) => `${Math.round(n / (wallMs / 1000)).toLocaleString('en')}/s`;
    console.log(`flood program: ${floodOpens(output) ?? '?'} opens in ${seconds} s (exit ${summary.exitCode})`);
    console.log(`kernel:  ${attempts} records attempted (${rate(attempts)}), ${summary.produced} into the ring, ${summary.drops.kernel} dropped and counted (ring full or nested)`);
    console.log(`helper:  ${summary.produced - summary.drops.helper} forwarded, ${summary.drops.helper} dropped and counted`);
    console.log(`client:  ${summary.delivered} decoded (${rate(summary.delivered)}) in ${batches} batches, ${events} events, ${summary.drops.undecodable} undecodable; client CPU ${(cpuMs / 1000).toFixed(1)} s of ${(wallMs / 1000).toFixed(1)} s`);
    const reconciles = attempts === summary.delivered + counted && summary.drops.unaccounted === 0;
    console.log(
      `reconciliation: attempted ${attempts} = delivered ${summary.delivered} + counted drops ${counted} -> ${reconciles ? 'reconciles' : `DOES NOT reconcile (unaccounted ${summary.drops.unaccounted})`}; ` +
        `kept up: ${summary.drops.kernel === 0 ? 'yes' : `no, ${((100 * summary.drops.kernel) / Math.max(1, attempts)).toFixed(1)}% dropped at the kernel ring`}`,
    );
    if (!reconciles) process.exitCode = 1;
  } finally {
    await session.dispose();
    if (startedHere) await vm.down();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
