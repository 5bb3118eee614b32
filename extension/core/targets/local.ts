// The `local` target: the kernel this process runs on. Under Remote-SSH the extension host runs on the
// remote machine, so there `local` is the remote kernel. Root comes from `sudo -n` unless we already are root.
import { copyFileSync, mkdirSync, statSync, chmodSync, renameSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { ExecResult, HelperTransport, Target } from '../target';
import { hostNode } from '../vm/image';
import { helperBundle } from './deploy';
import { runProgram, spawnTransport } from './process';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export class LocalTarget implements Target {
  readonly id = 'local';
  readonly kind = 'local' as const;

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

  /** The helper runs from the bundle in place: it is already on this machine, so there is nothing to deploy. */
  async startHelper(): Promise<HelperTransport> {
    const bundle = helperBundle();
    const node = hostNode();
    if (!node) throw new Error('no node binary found to run the helper with; install Node.js 20 or set BPF_LSM_VM_NODE');
    if (isRoot()) return spawnTransport(node, [bundle.helperJs], 'the local helper');
    // Asks about the exact command, not `true`: the narrow rule suggested below allows only the helper, so
    // `sudo -n true` fails for exactly the users who followed the advice. A machine without sudo gets the
    // same advice, not a bare ENOENT.
    const sudo = await runProgram('sudo', ['-n', '-l', node, bundle.helperJs]).catch((err: Error) => ({ exitCode: 127, stderr: err.message, stdout: '' }));
    if (sudo.exitCode !== 0) {
      throw new Error(
        `the helper must run as root, but \`sudo -n\` cannot start it without a password (${sudo.stderr.trim() || `exit ${sudo.exitCode}`}). ` +
          `Allow exactly the helper without a password: add \`${sudoersLine(node, bundle.helperJs)}\` to /etc/sudoers.d/bpf-lsm-studio (with visudo), or use the built-in VM target.`,
      );
    }
    return spawnTransport('sudo', ['-n', node, bundle.helperJs], 'the local helper');
  }
}

/** The sudoers line that lets the current user start exactly this helper as root without a password. */
export function sudoersLine(node: string, helperJs: string, user = process.env.SUDO_USER || process.env.USER || 'USER'): string {
  return `${user} ALL=(root) NOPASSWD: ${node} ${helperJs}`;
}
