// The VM tier: boots the built-in BPF-LSM VM once (preparing its assets first when the cache is cold),
// runs every test/vm/*.test.ts against it, and stops it on every way out (pass, failure, SIGINT/SIGTERM).
//
// How tests reach the VM: this runner exports BPF_LSM_CACHE, so in a test
//   import { vmTarget } from '../../extension/core/targets/vm';
//   const vm = vmTarget();                       // the running VM, reached over ssh on 127.0.0.1 as root
//   await vm.exec('uname', ['-r']);              // { stdout, stderr, exitCode }; args arrive exactly as given
//   await vm.copyTo([{ local, remote }]);
//   const transport = await vm.startHelper();    // deploys dist/helper.js + dist/native/bpflsm.node once
// BPF_LSM_VM_PORT and BPF_LSM_VM_KERNEL are exported too, for tests that only need to know.
//
// Cache: $BPF_LSM_CACHE when set, else the user's cache folder + "/test", so the tier never stops or reuses
// a VM the developer started by hand.
import { execFileSync, spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';

function defaultCache() {
  const xdg = process.env.XDG_CACHE_HOME || join(process.env.HOME || homedir(), '.cache');
  return join(xdg, 'bpf-lsm-studio', 'test');
}

export async function runVmTier({ root, files, grep, runMocha }) {
  const cli = join(root, 'dist', 'cli.js');
  // The tests run in this process and read these; the tiers after this one must not inherit them.
  const saved = Object.fromEntries(['BPF_LSM_CACHE', 'BPF_LSM_VM_PORT', 'BPF_LSM_VM_KERNEL'].map((k) => [k, process.env[k]]));
  process.env.BPF_LSM_CACHE ||= defaultCache();
  const env = { ...process.env };
  const vm = (...args) => execFileSync(process.execPath, [cli, 'vm', ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    // Synchronous, so it also runs from a signal handler right before exit.
    const r = spawnSync(process.execPath, [cli, 'vm', 'down', '--json'], { env, encoding: 'utf8' });
    if (r.status !== 0) console.error(`vm: stopping the VM failed: ${r.stderr || r.stdout}`);
    else console.log(`vm: stopped (${r.stdout.trim()})`);
  };
  const onSignal = (signal) => {
    console.error(`vm: ${signal}, stopping the VM`);
    stop();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const started = Date.now();
    const up = JSON.parse(vm('up', '--json'));
    console.log(
      `vm: ${up.reused ? 'reused the running VM' : 'up'} in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
        `(prepare ${(up.prepareMs / 1000).toFixed(1)} s${up.built.length ? `, built ${up.built.join('+')}` : ', all assets cached'}, ` +
        `boot to ssh ${(up.bootMs / 1000).toFixed(1)} s): kernel ${up.kernelRelease}, port ${up.port}, LSMs ${up.lsm.join(',')}`,
    );
    process.env.BPF_LSM_VM_PORT = String(up.port);
    process.env.BPF_LSM_VM_KERNEL = up.kernelRelease;
    await runMocha({ tier: 'vm', files, grep, timeout: 120_000 });
  } finally {
    stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
