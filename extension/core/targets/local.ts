// The `local` target: the kernel this process runs on. Under Remote-SSH the extension host runs on the
// remote machine, so there `local` is the remote kernel. Root comes from `sudo -n` unless we already are root.
import { copyFileSync, mkdirSync, statSync, chmodSync, renameSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { ExecResult, HelperTransport, Target } from '../target';
import { TargetKernel, thisMachineBtf } from './kernel';
import { hostNode } from '../vm/image';
import { helperBundle } from './deploy';
import { checkInstalledHelper } from './install';
import { runProgram, spawnTransport } from './process';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export class LocalTarget implements Target {
  readonly id = 'local';
  readonly kind = 'local' as const;
  readonly label = 'local';
  readonly description = 'this machine';
  readonly sharesThisMachine = true;
  readonly ownedMachine = false;
  readonly kernel = new TargetKernel({ targetId: this.id, name: 'local', btfAdvice: 'this kernel has no /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF=y is needed)', exec: (program, args, options) => this.exec(program, args, options), localBtf: thisMachineBtf });

  stopped(): boolean {
    return false;
  }

  async ensureUp(): Promise<void> {}

  exec(program: string, args: readonly string[], options: { input?: string | Buffer; timeoutMs?: number; root?: boolean } = {}): Promise<ExecResult> {
    if (options.root && !isRoot()) return runProgram('sudo', ['-n', program, ...args], options);
    return runProgram(program, args, options);
  }

  async copyTo(files: ReadonlyArray<{ local: string; remote: string }>): Promise<void> {
    for (const f of files) {
      if (!isAbsolute(f.remote)) throw new Error(`destination path must be absolute: ${f.remote}`);
      mkdirSync(dirname(f.remote), { recursive: true });
      const tmp = `${f.remote}.tmp.${process.pid}`;
      copyFileSync(f.local, tmp);
      chmodSync(tmp, statSync(f.local).mode & 0o7777);
      renameSync(tmp, f.remote);
    }
  }

  /**
   * As root, the helper runs from the bundle in place. Otherwise through `sudo -n`, from the root-owned
   * install (./install.ts) that the narrow sudoers rule names; a user whose sudo allows everything may run
   * the bundle in place, which gives nothing they do not already have.
   */
  async startHelper(): Promise<HelperTransport> {
    const bundle = helperBundle();
    const node = hostNode();
    if (!node) throw new Error('no node binary found to run the helper with; install Node.js 20 or set BPF_LSM_VM_NODE');
    if (isRoot()) return spawnTransport(node, [bundle.helperJs], 'the local helper');
    const setup = localPrivilegeSetup();
    const installed = checkInstalledHelper(bundle);
    // Asks about the exact command, not `true`: the narrow rule allows only the installed helper.
    const ask = (argv: string[]) => runProgram('sudo', ['-n', '-l', ...argv]).catch((err: Error) => ({ exitCode: 127, stderr: err.message, stdout: '' }));
    if (installed.ok) {
      const argv = [installed.helper.node, installed.helper.helperJs];
      const sudo = await ask(argv);
      if (sudo.exitCode === 0) return spawnTransport('sudo', ['-n', ...argv], 'the local helper');
      throw new Error(
        `the helper must run as root, but \`sudo -n\` cannot start it without a password (${sudo.stderr.trim() || `exit ${sudo.exitCode}`}). ` +
          `Allow exactly the installed helper without a password: add \`${setup.sudoersLine}\` to /etc/sudoers.d/bpf-lsm-studio (with visudo), or use the built-in VM target.`,
      );
    }
    const full = await ask(['true']);
    if (full.exitCode === 0) return spawnTransport('sudo', ['-n', node, bundle.helperJs], 'the local helper');
    throw new Error(
      `the helper must run as root, but ${installed.reason} and \`sudo -n\` cannot start anything else without a password (${full.stderr.trim() || `exit ${full.exitCode}`}). ` +
        `Install it once into a folder only root can change: \`${setup.installCommand}\`; then add \`${setup.sudoersLine}\` to /etc/sudoers.d/bpf-lsm-studio (with visudo). Or use the built-in VM target.`,
    );
  }
}

/** What the local target needs for a user without root: the install command and the sudoers line naming the install. */
export interface LocalPrivilegeSetup {
  readonly installCommand: string;
  readonly sudoersLine: string;
  /** Why the root-owned install cannot be used now; undefined when it can. */
  readonly installProblem?: string;
}

export function localPrivilegeSetup(): LocalPrivilegeSetup {
  const bundle = helperBundle();
  const installed = checkInstalledHelper(bundle);
  return {
    installCommand: `sudo ${hostNode() ?? 'node'} ${join(bundle.dist, 'cli.js')} install-helper`,
    sudoersLine: sudoersLine(installed.helper.node, installed.helper.helperJs),
    installProblem: installed.ok ? undefined : installed.reason,
  };
}

/** The sudoers line that lets the current user start exactly this helper as root without a password. */
export function sudoersLine(node: string, helperJs: string, user = process.env.SUDO_USER || process.env.USER || 'USER'): string {
  return `${user} ALL=(root) NOPASSWD: ${node} ${helperJs}`;
}
