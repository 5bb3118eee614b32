// The built-in VM's costs as a user meets them: cold preparation (kernel download, unpack, image), cold boot
// to ssh, warm `vm up` (cache reused), `vm down`, a command round trip and a helper start.
// Uses a fresh temporary cache (so "cold" is cold) and removes it afterwards.
//   BPF_LSM_BENCH_VM_RUNS   warm up/down cycles (default 3)
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuiltinVm } from '../extension/core/vm/vm';
import { vmPaths } from '../extension/core/vm/paths';
import { vmTarget } from '../extension/core/targets/vm';
import { HelperClient } from '../extension/core/helperClient';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const cache = mkdtempSync(join(tmpdir(), 'bpf-lsm-vm-bench-'));
  const paths = vmPaths({ ...process.env, BPF_LSM_CACHE: cache });
  const vm = new BuiltinVm(paths);
  const runs = Number(process.env.BPF_LSM_BENCH_VM_RUNS || 3);
  console.log(`host load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')} (TCG boots slow down with it)`);
  try {
    const cold = await vm.up();
    console.log(`cold vm up:            ${s(cold.totalMs)} (prepare ${s(cold.prepareMs)}: ${cold.built.join('+')}; boot to ssh ${s(cold.bootMs)})`);

    const target = vmTarget(paths);
    const rtt: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = Date.now();
      await target.exec('true', []);
      rtt.push(Date.now() - t);
    }
    console.log(`command round trip:    ${median(rtt)} ms median of 20 (shared ssh connection)`);

    const t0 = Date.now();
    try {
      const client = await HelperClient.connect(await target.startHelper());
      console.log(`helper start + hello:  ${s(Date.now() - t0)} (first deployment included)`);
      const t1 = Date.now();
      await client.close();
      const again = await HelperClient.connect(await target.startHelper());
      console.log(`helper start + hello:  ${s(Date.now() - t1)} (already deployed, close of the previous included)`);
      await again.close();
    } catch (err) {
      console.log(`helper start:          not measured (${err instanceof Error ? err.message : String(err)})`);
    }

    const warm: number[] = [];
    const boots: number[] = [];
    const downs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const d = Date.now();
      await vm.down();
      downs.push(Date.now() - d);
      const up = await vm.up();
      if (up.built.length) throw new Error(`a warm vm up rebuilt ${up.built.join('+')}`);
      warm.push(up.totalMs);
      boots.push(up.bootMs);
    }
    console.log(`warm vm up:            ${s(median(warm))} median of ${runs} (boot to ssh ${s(median(boots))}; runs ${warm.map(s).join(', ')})`);
    console.log(`vm down:               ${s(median(downs))} median`);
    console.log(`host load average at end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    await vm.down().catch(() => undefined);
    rmSync(cache, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
