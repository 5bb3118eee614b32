// How long `bpf-lsm test` takes per kernel: the 5-scenario file examples/open-guard/open-guard.lsmtest.json
// on each VM kernel, from a cold VM (stopped: boot included) and then on the warm VM (median of
// BPF_LSM_BENCH_TEST_RUNS runs, default 3). Each run builds the probe (cached vmlinux.h), loads and attaches
// it once, and runs the 5 scenarios from a clean state. Uses the VM cache ($BPF_LSM_CACHE); a VM that was
// stopped before is stopped again afterwards.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { readScenarioFile } from '../extension/core/testing/discover';
import { runScenarioFiles } from '../extension/core/testing/runner';
import { BuiltinVm } from '../extension/core/vm/vm';
import { vmKernels } from '../extension/core/vm/kernels';

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const file = readScenarioFile(join(__dirname, '..', '..', 'examples', 'open-guard', 'open-guard.lsmtest.json'));
  const runs = Number(process.env.BPF_LSM_BENCH_TEST_RUNS || 3);
  console.log(`${file.scenarios.length} scenarios (${file.path.split('/').slice(-2).join('/')}); host load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  for (const kernel of vmKernels()) {
    const vm = BuiltinVm.of(kernel);
    const wasRunning = !!vm.running();
    try {
      await vm.down();
      const run = async () => {
        const t = Date.now();
        const results = await runScenarioFiles([file], { kernels: [kernel] });
        const failed = results.filter((r) => !r.passed);
        if (failed.length) throw new Error(`${failed.length} scenario(s) failed on ${kernel}: ${failed[0].message}`);
        return Date.now() - t;
      };
      const cold = await run();
      const warm: number[] = [];
      for (let i = 0; i < runs; i++) warm.push(await run());
      const w = median(warm);
      console.log(`${kernel.padEnd(5)} warm VM: ${s(w)} for ${file.scenarios.length} scenarios (median of ${runs}: ${warm.map(s).join(', ')}; ${s(w / file.scenarios.length)} per scenario)`);
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
