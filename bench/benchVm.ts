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
 * A function that gives the share of this machine's CPU time its own hypervisor took (the steal column of
 * /proc/stat) since hostSteal() was called. The guest runs under TCG on the host's cores: when the host is itself a VM whose
 * cores are busy elsewhere, every figure of a run slows with it (50% was seen in an hour of runs here).
 */
export function hostSteal(): () => string {
  const read = () => cpuLine(readFileSync('/proc/stat', 'utf8').split('\n')[0]);
  const a = read();
  return () => {
    const b = read();
    const total = b.total - a.total;
    return total > 0 ? `${(((b.steal - a.steal) / total) * 100).toFixed(0)}%` : '?';
  };
}

/** A `cpu` line of /proc/stat in clock ticks: all of them, those not idle or waiting, those stolen. */
export function cpuLine(line: string): { busy: number; total: number; steal: number } {
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - (f[4] ?? 0), total, steal: f[7] ?? 0 };
}
