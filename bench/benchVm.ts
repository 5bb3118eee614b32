// For benchmarks on the real kernel: use the built-in VM when it runs, else boot it for this benchmark and
// stop it afterwards, so a benchmark never leaves a VM behind that it did not find. Booted without the
// background tracer load of `vm up` (a benchmark decides what is loaded when).
import { execFileSync } from 'node:child_process';
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
