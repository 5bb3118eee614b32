// Programs the helper starts for a trace: spawned stopped (so the tracer can add the pid to its filter
// before the program runs a single instruction of its own), resumed on request, killed with the session.
// The stop happens in a shell that stops itself and then execs the program in place, so the pid the
// client filters on is the program's pid; no ptrace is involved.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { ProcessInfo } from '../shared/helperProtocol';
import { widenAffinityShell } from './cpuPlacement';
import { HelperError, type Handlers } from './request';

export interface SpawnRequest {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  asRoot?: boolean;
}

const MAX_PROCESSES = 64;

let setpriv: string | null | undefined;

/**
 * `setpriv --pdeathsig KILL --` when util-linux's setpriv is on the target: the kernel then kills the
 * program if the helper dies without a chance to clean up (SIGKILL, OOM). Without it, only the helper's
 * own teardown kills what it spawned.
 */
function deathSignalPrefix(): string[] {
  if (setpriv === undefined) {
    setpriv = null;
    for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
      if (!existsSync(candidate)) continue;
      const help = spawnSync(candidate, ['--help'], { encoding: 'utf8', timeout: 5000 });
      if (`${help.stdout}${help.stderr}`.includes('--pdeathsig')) {
        setpriv = candidate;
        break;
      }
    }
  }
  return setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : [];
}

interface Owned {
  child: ChildProcess;
  info: ProcessInfo;
}

/** The user that started the helper through sudo, or the helper's own user when there was no sudo. */
export function connectingUser(): { uid: number; gid: number } {
  const uid = Number(process.env.SUDO_UID);
  const gid = Number(process.env.SUDO_GID);
  if (Number.isInteger(uid) && uid >= 0 && Number.isInteger(gid) && gid >= 0) return { uid, gid };
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: the state follows the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; !condition(); delay = Math.min(delay * 2, 20)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

export class ProcessTable {
  private readonly owned = new Map<number, Owned>();

  constructor(
    private readonly onOutput: (pid: number, stream: 'stdout' | 'stderr', text: string) => void,
    private readonly onExit: (pid: number, code: number | null, signal: string | null) => void,
  ) {}

  list(): ProcessInfo[] {
    return [...this.owned.values()].map((o) => ({ ...o.info, argv: [...o.info.argv] }));
  }

  async spawnStopped(req: SpawnRequest): Promise<{ pid: number; uid: number }> {
    if (this.owned.size >= MAX_PROCESSES) {
      throw new Error(`this session already runs ${MAX_PROCESSES} processes; kill some (or let them exit) first`);
    }
    const user = req.asRoot ? { uid: 0, gid: 0 } : connectingUser();
    const env = req.env ?? { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', LANG: 'C.UTF-8' };
    const [program, ...args] = [...deathSignalPrefix(), '/bin/sh', '-c', `${widenAffinityShell()}kill -STOP $$ && exec "$@"`, 'bpf-lsm-spawn', ...req.argv];
    const child = spawn(program, args, {
      cwd: req.cwd ?? '/',
      env,
      uid: user.uid,
      gid: user.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start ${req.argv[0]}: ${err.message}`)));
      child.once('spawn', () => resolve(child.pid as number));
    });
    const entry: Owned = { child, info: { pid, argv: [...req.argv], state: 'stopped', uid: user.uid } };
    this.owned.set(pid, entry);
    child.stdout?.setEncoding('utf8').on('data', (text: string) => this.onOutput(pid, 'stdout', text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => this.onOutput(pid, 'stderr', text));
    child.once('exit', () => {
      entry.info.state = 'exited';
    });
    // 'close' comes after the output pipes are drained, so processExit always follows the last output.
    child.once('close', (code, signal) => {
      this.owned.delete(pid);
      this.onExit(pid, code, signal);
    });
    try {
      await waitFor(() => processState(pid) === 'T' || entry.info.state === 'exited', 5000, `${req.argv[0]} (pid ${pid}) to stop before exec`);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    if (entry.info.state === 'exited') throw new Error(`${req.argv[0]} exited before it could be stopped (cwd ${req.cwd ?? '/'})`);
    return { pid, uid: user.uid };
  }

  resume(pid: number): void {
    const entry = this.owned.get(pid);
    if (!entry) throw Object.assign(new Error(`process ${pid} was not started by this helper (or has exited)`), { notFound: true });
    entry.child.kill('SIGCONT');
    entry.info.state = 'running';
  }

  kill(pid: number, signal: NodeJS.Signals): void {
    const entry = this.owned.get(pid);
    if (!entry) throw Object.assign(new Error(`process ${pid} was not started by this helper (or has exited)`), { notFound: true });
    entry.child.kill(signal);
    // A stopped process only acts on SIGKILL; continue it so SIGTERM/SIGINT take effect.
    if (signal !== 'SIGKILL' && entry.info.state === 'stopped') entry.child.kill('SIGCONT');
  }

  /** Kills every process still owned (stopped ones included) and waits for them to be reaped. */
  async killAll(): Promise<void> {
    const waits = [...this.owned.values()].map(
      (o) =>
        new Promise<void>((resolve) => {
          if (o.child.exitCode !== null || o.child.signalCode !== null) return resolve();
          o.child.once('exit', () => resolve());
          o.child.kill('SIGKILL');
        }),
    );
    await Promise.all(waits);
  }
}

/** The requests on programs started for a trace (spawn, resume, kill). */
export function processHandlers(table: ProcessTable): Handlers<'spawn' | 'resume' | 'kill'> {
  return {
    spawn: async (params) => {
      try {
        return { result: await table.spawnStopped(params) };
      } catch (err) {
        throw new HelperError('os-error', (err as Error).message);
      }
    },

    resume: async (params) => {
      table.resume(params.pid);
      return { result: {} };
    },

    kill: async (params) => {
      table.kill(params.pid, params.signal ?? 'SIGTERM');
      return { result: {} };
    },
  };
}
