// For benchmarks on the real kernel: use the built-in VM when it runs, else boot it for this benchmark and
// stop it afterwards, so a benchmark never leaves a VM behind that it did not find. Booted without the
// background tracer load of `vm up` (a benchmark decides what is loaded when).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export async function withBenchVm<T>(root: string, run: (vm: { kernelRelease?: string; pid?: number }) => Promise<T>): Promise<T> {
  const cli = join(root, 'dist', 'cli.js');
  const status = () => JSON.parse(execFileSync(process.execPath, [cli, 'vm', 'status', '--json'], { encoding: 'utf8' }));
  const bootedHere = status().state !== 'running';
  if (bootedHere) {
    console.log('booting the VM for this benchmark...');
    execFileSync(process.execPath, [cli, 'vm', 'up', '--json', '--no-tracer'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  try {
    const { vm } = status();
    return await run({ kernelRelease: vm?.kernelRelease, pid: vm?.pid });
  } finally {
    if (bootedHere) execFileSync(process.execPath, [cli, 'vm', 'down', '--json'], { stdio: 'ignore' });
  }
}

/**
 * The share of this machine's CPU time that its own hypervisor took (the steal column of /proc/stat) since
 * `since()` was called. The guest runs under TCG on the host's cores: when the host is itself a VM whose
 * cores are busy elsewhere, every figure of a run slows with it (50% was seen in an hour of runs here).
 */
export function hostSteal(): () => string {
  const read = (): { steal: number; total: number } => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { steal: f[7] ?? 0, total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
  };
  const a = read();
  return () => {
    const b = read();
    const total = b.total - a.total;
    return total > 0 ? `${(((b.steal - a.steal) / total) * 100).toFixed(0)}%` : '?';
  };
}
