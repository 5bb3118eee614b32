// Targets reached with the system's OpenSSH client: `ssh:<host>` (any host of the user's ~/.ssh/config, with
// the user's keys and agent; the helper runs through `sudo -n`) and `vm` (the built-in VM on 127.0.0.1,
// logged into as root with the product's own key). Both run each command through the remote login shell,
// so every argument is quoted for it.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { execa } from 'execa';
import { cacheRoot, privateDir, socketPath } from '../vm/paths';
import { ExecResult, HelperTransport, Progress, Target, TargetKind } from '../target';
import { TargetKernel, type KernelBtf } from './kernel';
import { deployHelper, helperBundle } from './deploy';
import { runProgram, spawnTransport, sshFailure } from './process';
import { remoteCommand } from './quote';
import { isSafeSshHost } from './sshHost';
import { ChannelOptions, channelTransport, helperProcessLaunch } from './vmChannel';
import { daemonTransport } from './vmDaemon';
import { mark } from '../timings';

export interface SshConnection {
  /** ssh options, without the destination. */
  readonly options: readonly string[];
  readonly destination: string;
}

export interface RemoteTargetOptions {
  readonly id: string;
  readonly kind: TargetKind;
  /** How to reach the target right now (the VM's port changes with every boot). */
  readonly connect: () => SshConnection;
  /** True when the login user is root, so no sudo is needed; undefined: ask the target (`id -u`) once. */
  readonly loginIsRoot?: boolean;
  /** The node program on the target. */
  readonly node: string;
  /**
   * Whom the helper treats as the invoking user when it was not started through sudo (it reads
   * SUDO_UID/SUDO_GID): the built-in VM's root login names its unprivileged user, so traced programs and
   * the object check run as that user rather than as root.
   */
  readonly invokingUser?: { readonly uid: number; readonly gid: number };
  /** Folder the helper versions live in on the target. */
  readonly helperRoot: (target: RemoteTarget) => Promise<string>;
  /** Runs once before the first command (e.g. opens a shared ssh connection); failures are not fatal. */
  readonly prepare?: () => Promise<void>;
  /** A faster route for the helper's protocol than the ssh session (the VM's channels), when there is one now. */
  readonly helperChannels?: () => Pick<ChannelOptions, 'sockets' | 'name'> | undefined;
  /** Helper sessions on the channels come from one resident helper daemon per boot (./vmDaemon.ts). */
  readonly helperDaemon?: () => boolean;
  /** More about why the target does not answer over ssh (the VM's console), added to a connection error. */
  readonly unreachable?: () => string;
  /** In sentences: "the built-in VM", "ssh host box". */
  readonly description: string;
  /** Short, for the status bar. */
  readonly label: string;
  /** A machine this product starts (the built-in VM): whether it runs, and how to bring it up. */
  readonly machine?: { running(): boolean; up(progress: Progress): Promise<void> };
  /** This kernel's BTF as a file on this machine (the VM's kernel image). */
  readonly localBtf?: () => KernelBtf | undefined;
  /** See Target.placeTracingClient. */
  readonly placeTracingClient?: () => Promise<(() => Promise<void>) | undefined>;
  /** How diagnostics name this kernel next to others, and what makes its BTF available here (see TargetKernel). */
  readonly kernelName: string;
  readonly btfAdvice: string;
}

/** Copies stdin to a temp file next to the destination, then renames it: a broken copy is never left in place. */
const COPY_SCRIPT = 'set -e; d=$(dirname "$1"); mkdir -p "$d"; t="$1.tmp.$$"; cat > "$t"; chmod "$2" "$t"; mv -f "$t" "$1"';

export class RemoteTarget implements Target {
  readonly id: string;
  readonly kind: TargetKind;
  readonly label: string;
  readonly description: string;
  readonly sharesThisMachine = false;
  readonly ownedMachine: boolean;
  readonly kernel: TargetKernel;

  private loginIsRoot: boolean | undefined;
  private prepared: Promise<void> | undefined;

  constructor(private readonly opts: RemoteTargetOptions) {
    this.id = opts.id;
    this.kind = opts.kind;
    this.label = opts.label;
    this.description = opts.description;
    this.ownedMachine = opts.machine !== undefined;
    this.loginIsRoot = opts.loginIsRoot;
    this.kernel = new TargetKernel({ targetId: opts.id, name: opts.kernelName, btfAdvice: opts.btfAdvice, exec: (program, args, options) => this.exec(program, args, options), localBtf: opts.localBtf });
    this.placeTracingClient = opts.placeTracingClient;
  }

  readonly placeTracingClient?: () => Promise<(() => Promise<void>) | undefined>;

  stopped(): boolean {
    return this.opts.machine ? !this.opts.machine.running() : false;
  }

  async ensureUp(progress: Progress = () => {}): Promise<void> {
    await this.opts.machine?.up(progress);
  }

  private prepare(): Promise<void> {
    this.prepared ??= (this.opts.prepare?.() ?? Promise.resolve()).catch(() => undefined);
    return this.prepared;
  }

  private failure(result: ExecResult): Error | undefined {
    const failure = sshFailure(result, this.describe());
    const more = failure && this.opts.unreachable?.();
    if (more) failure.message += `\n${more}`;
    return failure;
  }

  /** The full ssh argument list for one remote command; `asRoot` prefixes `sudo -n`. */
  sshArgs(program: string, args: readonly string[], asRoot = false): string[] {
    const c = this.opts.connect();
    const command = asRoot ? remoteCommand('sudo', ['-n', program, ...args]) : remoteCommand(program, args);
    return [...c.options, '-T', '--', c.destination, command];
  }

  /** Whether commands must go through sudo to run as root (asked once per target object). */
  private async needsSudo(): Promise<boolean> {
    if (this.loginIsRoot === undefined) {
      await this.prepare();
      const r = await runProgram('ssh', this.sshArgs('id', ['-u']), { timeoutMs: 60_000 });
      const failure = this.failure(r);
      if (failure) throw failure;
      this.loginIsRoot = r.stdout.trim() === '0';
    }
    return !this.loginIsRoot;
  }

  async exec(program: string, args: readonly string[], options: { input?: string | Buffer; timeoutMs?: number; root?: boolean } = {}): Promise<ExecResult> {
    await this.prepare();
    const sudo = options.root ? await this.needsSudo() : false;
    const result = await runProgram('ssh', this.sshArgs(program, args, sudo), { input: options.input, timeoutMs: options.timeoutMs });
    const failure = this.failure(result);
    if (failure) throw failure;
    return result;
  }

  async copyTo(files: ReadonlyArray<{ local: string; remote: string }>): Promise<void> {
    for (const f of files) {
      if (!posix.isAbsolute(f.remote)) throw new Error(`remote path must be absolute: ${f.remote}`);
      const mode = (statSync(f.local).mode & 0o7777).toString(8);
      const r = await this.exec('sh', ['-c', COPY_SCRIPT, 'copy', f.remote, mode], { input: readFileSync(f.local) });
      if (r.exitCode !== 0) throw new Error(`copying ${f.local} to ${this.id}:${f.remote} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
    }
  }

  async startHelper(): Promise<HelperTransport> {
    const bundle = helperBundle();
    const sudo = await this.needsSudo();
    if (sudo) {
      const sudo = await this.exec('sudo', ['-n', 'true']);
      if (sudo.exitCode !== 0) {
        throw new Error(
          `the helper must run as root on ${this.describe()}, but \`sudo -n\` needs a password there (${sudo.stderr.trim() || `exit ${sudo.exitCode}`}). ` +
            'Allow it without a password for your user (e.g. a line `USER ALL=(root) NOPASSWD: ALL` in /etc/sudoers.d/bpf-lsm-studio, edited with visudo), or use the built-in VM target.',
        );
      }
    }
    let deployed: Promise<string> | undefined;
    const deploy = () => (deployed ??= (async () => deployHelper(this, await this.opts.helperRoot(this), bundle))());
    const user = this.opts.invokingUser;
    const channels = this.opts.helperChannels?.();
    let fallback = '';
    let daemonFailure = '';
    if (channels && this.opts.helperDaemon?.()) {
      const r = await daemonTransport({
        ...channels,
        target: this,
        what: this.describe(),
        sshArgs: (p, a) => this.sshArgs(p, a, sudo),
        version: bundle.version,
        deploy,
        user: user ?? { uid: 0, gid: 0 },
        onStart: (ms) => mark(`helper daemon started in the guest in ${ms} ms`),
      });
      if (r.transport) return r.transport;
      // Every channel taken: the ssh session carries the helper (below). Otherwise a helper process of its own.
      if (r.allBusy) fallback = ` (no helper channel: ${r.reason})`;
      else daemonFailure = ` (no helper daemon: ${r.reason})`;
    }
    const remoteHelper = await deploy();
    const [program, ...args] = [...(user ? ['env', `SUDO_UID=${user.uid}`, `SUDO_GID=${user.gid}`] : []), this.opts.node, remoteHelper];
    if (channels && !fallback) {
      const command = [program, ...args];
      const r = await channelTransport({ ...channels, launch: helperProcessLaunch((p, a) => this.sshArgs(p, a, sudo), command), what: this.describe() });
      if (r.transport) return { ...r.transport, route: `${r.transport.route}${daemonFailure}` };
      fallback = ` (no helper channel: ${r.reason})`;
    }
    return { ...spawnTransport('ssh', this.sshArgs(program, args, sudo), this.describe()), route: `ssh${fallback}`, compressEvents: true };
  }

  describe(): string {
    return this.description;
  }
}

/** `ssh:<host>`: the user's own ssh setup decides user, port, keys and proxies, exactly as in a terminal. */
export function sshTarget(host: string): RemoteTarget {
  if (!isSafeSshHost(host)) throw new Error(`"${host}" is not a usable ssh host name (letters, digits, '.', '-', '_', an optional user@)`);
  // BPF_LSM_SSH_CONFIG: an ssh config file to use instead of ~/.ssh/config (ssh reads the latter from the
  // passwd home, not $HOME, so this is the only way to point it elsewhere, e.g. in tests).
  const config = process.env.BPF_LSM_SSH_CONFIG ? ['-F', process.env.BPF_LSM_SSH_CONFIG] : [];
  const dir = join(cacheRoot(), 'ssh');
  const tag = createHash('sha256').update(`${config.join(' ')}\0${host}`).digest('hex').slice(0, 16);
  const control = socketPath(join(dir, `${tag}.sock`));
  const base = [...config, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15', '-o', `ControlPath=${control}`];
  return new RemoteTarget({
    id: `ssh:${host}`,
    kind: 'ssh',
    label: `ssh:${host}`,
    description: `ssh host ${host}`,
    kernelName: host,
    btfAdvice: `select ssh:${host} as the target once (BPF-LSM: Select Target) so its BTF is read`,
    // Commands share one connection (a check or a helper deployment is a dozen commands). "no": use the
    // master when it is there, else connect directly, so a dead master never breaks a command.
    connect: () => ({ options: [...base, '-o', 'ControlMaster=no'], destination: host }),
    prepare: async () => {
      privateDir(dir);
      privateDir(dirname(control));
      if (existsSync(control)) {
        const check = await execa('ssh', [...base, '-O', 'check', '--', host], { reject: false, stdin: 'ignore', timeout: 10_000 });
        if (check.exitCode === 0) return;
      }
      // Detached with no pipes (its stderr goes to a file): a backgrounded master would hold them open.
      await execa('ssh', [...base, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=300', '-f', '-N', '--', host], {
        reject: false,
        stdin: 'ignore',
        stdout: 'ignore',
        stderr: { file: join(dir, `${tag}.log`) },
        timeout: 60_000,
      });
    },
    node: 'node',
    helperRoot: async (t) => {
      const r = await t.exec('sh', ['-c', 'printf %s "$HOME"']);
      const home = r.stdout.trim();
      if (r.exitCode !== 0 || !home.startsWith('/')) throw new Error(`could not find the home folder on ${t.describe()}`);
      return `${home}/.cache/bpf-lsm-studio/helper`;
    },
  });
}
