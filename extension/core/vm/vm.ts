// The built-in BPF-LSM VM as one object for the CLI (`bpf-lsm vm`), the extension (Start VM / Stop VM) and
// the VM test tier: up (prepare assets once, boot, wait for ssh), down, status. One BuiltinVm per kernel
// (./kernels.ts); each kernel's VM has its own cache folder and can run next to the others.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { prepareAssets, PreparedAssets, Progress } from './assets';
import { kernelAssetsAt } from './kernel';
import { bootVm, fileSize, readState, stopVm, VmState } from './machine';
import { VmPaths, vmPaths } from './paths';
import { DEFAULT_VM_KERNEL, VmKernel, vmKernels, vmTargetId } from './kernels';

export interface VmUpResult extends VmState {
  /** True when the VM was already running and was reused as is. */
  readonly reused: boolean;
  /** Assets built by this call (kernel, keys, image); empty when all came from the cache. */
  readonly built: string[];
  readonly prepareMs: number;
  readonly totalMs: number;
}

export interface VmStatus {
  readonly kernel: VmKernel;
  /** The target id that reaches this VM: `vm` or `vm:<kernel>`. */
  readonly target: string;
  readonly state: 'running' | 'stopped';
  readonly cache: string;
  readonly prepared: { kernel?: string; kernelPackage?: string; imageBytes: number };
  readonly vm?: VmState;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Serializes `vm up`/`vm down` across processes (the CLI and an editor may both start the VM). A lock left by
 * a process that died is taken over.
 */
async function withLock<T>(paths: VmPaths, what: string, fn: () => Promise<T>, waitMs = 600_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      const fd = openSync(paths.lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        mkdirSync(paths.root, { recursive: true });
        continue;
      }
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = 0;
      try {
        owner = Number(readFileSync(paths.lock, 'utf8')) || 0;
      } catch {
        continue;
      }
      if (!owner || !pidAlive(owner)) {
        rmSync(paths.lock, { force: true });
        continue;
      }
      if (Date.now() - started > waitMs) throw new Error(`another process (pid ${owner}) has held the VM lock for ${Math.round(waitMs / 1000)} s while ${what}; stop it or remove ${paths.lock}`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(paths.lock, { force: true });
  }
}

export class BuiltinVm {
  constructor(readonly paths: VmPaths = vmPaths()) {}

  /** The VM of `kernel` in the cache named by `env` (BPF_LSM_CACHE). */
  static of(kernel: VmKernel = DEFAULT_VM_KERNEL, env: NodeJS.ProcessEnv = process.env): BuiltinVm {
    return new BuiltinVm(vmPaths(env, kernel));
  }

  /** One VM per kernel the built-in VM can boot, the default first. */
  static all(env: NodeJS.ProcessEnv = process.env): BuiltinVm[] {
    return vmKernels().map((k) => BuiltinVm.of(k, env));
  }

  get kernel(): VmKernel {
    return this.paths.kernelName;
  }

  /** Prepares whatever assets are missing and boots the VM, or returns the running one. */
  up(progress: Progress = () => {}): Promise<VmUpResult> {
    return withLock(this.paths, 'starting the VM', async () => {
      const started = Date.now();
      const running = readState(this.paths);
      if (running) return { ...running, reused: true, built: [], prepareMs: 0, totalMs: Date.now() - started };
      const assets: PreparedAssets = await prepareAssets(this.paths, progress);
      const prepareMs = Date.now() - started;
      const state = await bootVm(this.paths, assets, { progress });
      return { ...state, built: assets.built, prepareMs, totalMs: Date.now() - started };
    });
  }

  /** Stops the VM; returns whether one was running. Leaves no qemu process behind. */
  down(): Promise<{ wasRunning: boolean; pid?: number }> {
    return withLock(this.paths, 'stopping the VM', () => stopVm(this.paths), 60_000);
  }

  /** Stops the VM without waiting for the lock (for an interrupted `up`, which holds it). */
  forceStop(): Promise<{ wasRunning: boolean; pid?: number }> {
    return stopVm(this.paths);
  }

  /** The running VM's state, or undefined when none runs. */
  running(): VmState | undefined {
    return readState(this.paths);
  }

  status(): VmStatus {
    const vm = readState(this.paths);
    const kernel = kernelAssetsAt(this.paths.kernel, this.kernel);
    return {
      kernel: this.kernel,
      target: vmTargetId(this.kernel),
      state: vm ? 'running' : 'stopped',
      cache: this.paths.root,
      prepared: { kernel: kernel?.release, kernelPackage: kernel ? `${kernel.package} ${kernel.version}` : undefined, imageBytes: existsSync(this.paths.image) ? fileSize(this.paths.image) : 0 },
      vm,
    };
  }
}
