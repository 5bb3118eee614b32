// How long `bpf-lsm test` takes per kernel: the 5-scenario file examples/open-guard/open-guard.lsmtest.json
// on each VM kernel, from a cold VM (stopped: boot included) and then on the warm VM (median of
// BPF_LSM_BENCH_TEST_RUNS runs, default 3). Each run builds the probe (cached vmlinux.h), loads and attaches
// it once, and runs the 5 scenarios from a clean state. Uses the VM cache ($BPF_LSM_CACHE); a VM that was
// stopped before is stopped again afterwards.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { readScenarioFile } from '../extension/core/testing/discover';
import { runScenarioFiles, type KernelTimings } from '../extension/core/testing/runner';
import { BuiltinVm } from '../extension/core/vm/vm';
import { vmKernels } from '../extension/core/vm/kernels';

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const file = readScenarioFile(join(__dirname, '..', '..', 'examples', 'open-guard', 'open-guard.lsmtest.json'));
  const runs = Number(process.env.BPF_LSM_BENCH_TEST_RUNS || 3);
  console.log(`${file.scenarios.length} scenarios (${file.path.split('/').slice(-2).join('/')}); host load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  for (const kernel of vmKernels()) {
    const vm = BuiltinVm.of(kernel);
    const wasRunning = !!vm.running();
    try {
      await vm.down();
      // The first result's time includes building and loading the file's probes; the time before it is the
      // VM check, the helper's start and the step agents' start (node in the guest).
      const run = async () => {
        const t = Date.now();
        let parts: KernelTimings | undefined;
        const results = await runScenarioFiles([file], { kernels: [kernel], onTimings: (_, x) => (parts = x) });
        const failed = results.filter((r) => !r.passed);
        if (failed.length) throw new Error(`${failed.length} scenario(s) failed on ${kernel}: ${failed[0].message}`);
        const total = Date.now() - t;
        const inScenarios = results.reduce((a, r) => a + r.durationMs, 0);
        return { total, connect: total - inScenarios, first: results[0].durationMs, rest: inScenarios - results[0].durationMs, parts: parts! };
      };
      const cold = (await run()).total;
      const warm: Array<Awaited<ReturnType<typeof run>>> = [];
      for (let i = 0; i < runs; i++) warm.push(await run());
      const mid = [...warm].sort((a, b) => a.total - b.total)[Math.floor(warm.length / 2)];
      const w = mid.total;
      console.log(
        `${kernel.padEnd(5)} warm VM: ${s(w)} for ${file.scenarios.length} scenarios (median of ${runs}: ${warm.map((x) => s(x.total)).join(', ')}); ` +
          `of the median run: helper + step agents ${s(mid.connect)}, build + load + 1st scenario ${s(mid.first)}, the other ${file.scenarios.length - 1} scenarios ${s(mid.rest)}`,
      );
      const p = mid.parts;
      console.log(`${kernel.padEnd(5)}   ready after: VM check ${s(p.vmMs)}, helper ${s(p.helperMs)}, step agents ${s(p.agentsMs)}, tracer ${s(p.tracerMs)}, probe built ${s(p.buildMs)}; load + snapshot ${s(p.loadMs)}`);
      console.log(`${kernel.padEnd(5)} cold VM: ${s(cold)} (the VM start adds ${s(cold - w)})`);
    } finally {
      if (!wasRunning) await vm.down();
    }
  }
  console.log(`host load average at end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
