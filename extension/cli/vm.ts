// `bpf-lsm vm up|down|status|ssh`: the built-in BPF-LSM VM from the command line.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { vmForTarget } from '../core/targets';
import { VM_SSH_DESTINATION, vmSshOptions } from '../core/vm/machine';
import { remoteCommand } from '../core/targets/quote';
import { DEFAULT_VM_KERNEL, parseVmKernel, vmKernels, vmTargetId } from '../core/vm/kernels';

const usage = `usage: bpf-lsm vm <up|down|status|ssh> [--kernel K] [--json]
  up                 prepare the VM assets once (kernel, keys, image; cached) and boot the VM; then load the
                     tracer in the background (bpf-lsm tracer start), so that the first trace starts at once
  --no-tracer        (up) boot only; the first trace loads the tracer (also: BPF_LSM_VM_TRACER=0)
  down               stop the VM (no qemu process is left behind)
  status             every VM by kernel: running or not, ssh port, kernel release, active LSM list
                     (with --kernel: that one only)
  ssh [-- CMD ARG..] run CMD in the VM with exactly these arguments (an interactive shell without CMD);
                     its output and exit status are passed through
  --kernel K         which kernel's VM: ${vmKernels().join(' or ')} (default ${DEFAULT_VM_KERNEL}); target ids vm, vm:6.12
  --json             machine-readable output (up, down, status)
The cache is $BPF_LSM_CACHE, else \${XDG_CACHE_HOME:-~/.cache}/bpf-lsm-studio, with the ${DEFAULT_VM_KERNEL} VM under
vm/ and the others under vm-<kernel>/ (e.g. vm-6.12/).`;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * `bpf-lsm tracer start --target T` in a process of its own that outlives this one, its output in the VM's
 * run folder (which goes with the next boot). It never boots the VM itself: after a `vm down` it fails
 * and ends. A trace that comes while it loads waits for that load and then reuses it (the helper's lock).
 */
function startTracerInBackground(targetId: string, runDir: string): string {
  const log = join(runDir, 'tracer-start.log');
  const fd = openSync(log, 'w', 0o600);
  try {
    const child = spawn(process.execPath, [process.argv[1], 'tracer', 'start', '--target', targetId], { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
  } finally {
    closeSync(fd);
  }
  return log;
}

export const vmCommand: Subcommand = {
  name: 'vm',
  summary: 'prepare, start, stop and reach the built-in BPF-LSM VM',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { json: {}, kernel: { value: true }, 'no-tracer': {} });
    const [action, ...extra] = args.positional;
    const json = args.flags.has('json');
    const kernelFlag = args.flags.get('kernel');
    let kernel = DEFAULT_VM_KERNEL;
    try {
      if (kernelFlag !== undefined) kernel = parseVmKernel(String(kernelFlag));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const vm = vmForTarget(vmTargetId(kernel));
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"${action === 'ssh' ? ' (put the command after --)' : ''}`);
    switch (action) {
      case 'up': {
        const progress = (m: string) => console.error(`bpf-lsm vm: ${m}`);
        // Ctrl-C while booting must not leave a half-booted qemu behind (it is daemonized and would outlive us).
        const interrupted = (signal: NodeJS.Signals) => {
          console.error(`bpf-lsm vm: ${signal} received, stopping the VM`);
          void vm.forceStop().finally(() => process.exit(130));
        };
        process.once('SIGINT', interrupted);
        process.once('SIGTERM', interrupted);
        const r = await vm.up(progress).finally(() => {
          process.off('SIGINT', interrupted);
          process.off('SIGTERM', interrupted);
        });
        // A VM that was running already has had its chance to get a tracer (or was told not to).
        const preload = !r.reused && !args.flags.has('no-tracer') && process.env.BPF_LSM_VM_TRACER !== '0' && r.lsm.includes('bpf');
        const tracerLog = preload ? startTracerInBackground(vmTargetId(kernel), vm.paths.run) : undefined;
        if (json) console.log(JSON.stringify({ state: 'running', ...r, tracer: tracerLog ? { loading: true, log: tracerLog } : { loading: false } }, null, 2));
        else {
          const how = r.reused ? 'already running' : `ready in ${seconds(r.totalMs)} (prepare ${seconds(r.prepareMs)}, boot to ssh ${seconds(r.bootMs)})`;
          const pinned = r.pinnedCores ? `, vCPUs on host cores ${r.pinnedCores.join(',')}` : '';
          console.log(`VM ${how}: ssh port ${r.port} on 127.0.0.1, kernel ${r.kernelRelease}, LSMs ${r.lsm.join(',')}${pinned}`);
          if (!r.lsm.includes('bpf')) console.log('warning: bpf is not in the active LSM list; LSM programs would attach but never run');
          if (tracerLog) {
            console.log(`loading the tracer in the VM in the background, so that the first trace starts at once (bpf-lsm tracer status${kernel === DEFAULT_VM_KERNEL ? '' : ` --target ${vmTargetId(kernel)}`} shows it; log ${tracerLog})`);
          }
        }
        return 0;
      }
      case 'down': {
        const r = await vm.down();
        if (json) console.log(JSON.stringify({ state: 'stopped', ...r }));
        else console.log(r.wasRunning ? `VM stopped (qemu pid ${r.pid} is gone)` : 'the VM was not running');
        return 0;
      }
      case 'status': {
        // Without --kernel: every kernel's VM, one line (or one JSON object in `vms`) each.
        const all = kernelFlag === undefined ? vmKernels().map((k) => vmForTarget(vmTargetId(k))) : [vm];
        const statuses = all.map((v) => v.status());
        const asJson = (s: (typeof statuses)[number]) => ({ ...s, kernelRelease: s.vm?.kernelRelease ?? null, lsm: s.vm?.lsm ?? null, port: s.vm?.port ?? null });
        if (json) console.log(JSON.stringify(kernelFlag === undefined ? { ...asJson(statuses[0]), vms: statuses.map(asJson) } : asJson(statuses[0]), null, 2));
        else {
          for (const s of statuses) {
            const up = s.kernel === DEFAULT_VM_KERNEL ? 'bpf-lsm vm up' : `bpf-lsm vm up --kernel ${s.kernel}`;
            const line = s.vm
              ? `running: pid ${s.vm.pid}, ssh port ${s.vm.port} on 127.0.0.1, kernel ${s.vm.kernelRelease}, LSMs ${s.vm.lsm.join(',')}` +
                `${s.vm.pinnedCores ? `, vCPUs on host cores ${s.vm.pinnedCores.join(',')}` : ''}, up since ${s.vm.startedAt}`
              : `stopped${s.prepared.kernel ? ` (prepared: kernel ${s.prepared.kernel}, image ${Math.round(s.prepared.imageBytes / 1048576)} MiB)` : ` (not prepared yet: ${up})`}; cache ${s.cache}`;
            console.log(`${s.target.padEnd(8)} ${line}`);
          }
        }
        return 0;
      }
      case 'ssh': {
        if (json) throw new UsageError('--json does not apply to vm ssh');
        const state = vm.running();
        if (!state) {
          console.error(`bpf-lsm vm ssh: the ${kernel} VM is not running; start it with: bpf-lsm vm up${kernel === DEFAULT_VM_KERNEL ? '' : ` --kernel ${kernel}`}`);
          return 1;
        }
        const interactive = args.rest.length === 0;
        const sshArgs = [...vmSshOptions(vm.paths, state.port), interactive ? '-t' : '-T', '--', VM_SSH_DESTINATION];
        if (!interactive) sshArgs.push(remoteCommand(args.rest[0], args.rest.slice(1)));
        const r = await execa('ssh', sshArgs, { stdio: 'inherit', reject: false });
        return r.exitCode ?? 1;
      }
      case undefined:
        throw new UsageError('say what to do: up, down, status or ssh');
      default:
        throw new UsageError(`unknown action "${action}"`);
    }
  },
};
