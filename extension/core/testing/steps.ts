// Running one scenario step on the target and judging its outcome. The step runs inside the target under
// node (the VM ships it; the helper needs it anyway), so the outcome is the kernel's own answer: the errno
// of a failed execve/open/connect/rename, or the exit status of a program that ran. "as user" steps run in
// a child with that uid and gid (libuv sets them between fork and exec).
import type { ExecResult, HelperTransport } from '../target';
import type { RemoteTarget } from '../targets/remote';
import { spawnTransport } from '../targets/process';
import type { Expectation, RunAs, Step } from './scenarioFile';
import { GUEST_USER } from '../vm/image';

/** What happened: `allowed` for open/connect/rename that succeeded, `exit N` / `signal S` for a program that ran, or an errno name. */
export interface StepOutcome {
  readonly kind: 'allowed' | 'exit' | 'signal' | 'errno';
  readonly errno?: string;
  readonly exit?: number;
  readonly signal?: string;
  /** What the program wrote (exec), cut to a few lines, for failure messages. */
  readonly output?: string;
}

export function uidOf(as: RunAs | undefined): number {
  if (as === undefined || as === 'root') return 0;
  if (as === 'user') return GUEST_USER.uid;
  return as;
}

/** `exec /tmp/x/nc -h as uid 1000`: the step as a failure message names it. */
export function describeStep(step: Step): string {
  const uid = uidOf(step.as);
  const who = uid === 0 ? 'as root' : `as uid ${uid}`;
  if ('exec' in step) return `exec ${step.exec.join(' ')} ${who}`;
  if ('open' in step) return `open ${step.open} ${step.flags ?? 'O_RDONLY'} ${who}`;
  if ('connect' in step) return `connect ${step.connect} ${who}`;
  return `rename ${step.rename} to ${step.to} ${who}`;
}

export function describeOutcome(o: StepOutcome): string {
  switch (o.kind) {
    case 'allowed':
      return 'allowed';
    case 'exit':
      return `exit ${o.exit}`;
    case 'signal':
      return `killed by ${o.signal}`;
    case 'errno':
      return o.errno ?? 'an error';
  }
}

export function describeExpectation(e: Expectation): string {
  return typeof e === 'string' ? e : `exit ${e.exit}`;
}

/** Whether the outcome is what the step expected. `allowed` for exec means the program ran (any exit status). */
export function outcomeMatches(e: Expectation, o: StepOutcome): boolean {
  if (e === 'allowed') return o.kind === 'allowed' || o.kind === 'exit' || o.kind === 'signal';
  if (typeof e === 'object') return o.kind === 'exit' && o.exit === e.exit;
  return o.kind === 'errno' && o.errno === e;
}

// The step agent: one node process per target and uid for a whole run (node takes seconds to start in a TCG
// guest, so one per step would dominate a test's time). It reads one JSON request per line and answers one
// line with the same id: `run` (a program with arguments and stdin, like Target.exec) and `step`. The
// client starts one agent as root and, at the same time, one per other uid its steps use (started as root,
// it drops to that uid and gid before anything else), so the kernel sees that user's credentials on the
// operation itself (open, connect, rename); exec steps are spawned with the uid directly (libuv sets it
// between fork and exec). A step for a uid without an agent goes to a child agent the root one starts.
export const AGENT_SCRIPT = String.raw`
const fs = require('fs'), net = require('net'), cp = require('child_process'), readline = require('readline');
const myUid = Number(process.argv[1] || 0);
// Started as root for another uid: drop to it for good (real, effective and saved ids, no groups) first.
if (myUid !== 0 && process.getuid() === 0) { process.setgroups([]); process.setgid(myUid); process.setuid(myUid); }
const children = new Map();
const send = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const errno = (e) => ({ kind: 'errno', errno: e.code || String(e.message) });
function child(uid) {
  let c = children.get(uid);
  if (c) return c;
  const p = cp.spawn(process.execPath, ['-e', process.env.BLS_AGENT_SCRIPT, String(uid)], { uid, gid: uid, cwd: '/', stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = new Map();
  readline.createInterface({ input: p.stdout }).on('line', (l) => { const r = JSON.parse(l); const w = waiting.get(r.id); waiting.delete(r.id); if (w) w(r); });
  p.on('exit', () => { for (const w of waiting.values()) w({ error: 'the agent for uid ' + uid + ' exited' }); waiting.clear(); children.delete(uid); });
  c = { ask: (req) => new Promise((res) => { waiting.set(req.id, res); p.stdin.write(JSON.stringify(req) + '\n'); }), kill: () => p.kill() };
  children.set(uid, c);
  return c;
}
function step(s) {
  const uid = s.uid || 0;
  if (s.exec) {
    const r = cp.spawnSync(s.exec[0], s.exec.slice(1), { uid, gid: uid, timeout: 20000, encoding: 'utf8', cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) return errno(r.error);
    const output = (r.stdout + r.stderr).split('\n').slice(0, 4).join('\n').slice(0, 400);
    return r.signal ? { kind: 'signal', signal: r.signal, output } : { kind: 'exit', exit: r.status, output };
  }
  if (uid !== myUid) return child(uid).ask({ id: 0, op: 'step', step: s }).then((r) => r.outcome || { kind: 'errno', errno: r.error });
  if (s.open) {
    let flags = 0;
    for (const f of (s.flags || 'O_RDONLY').split('|')) flags |= fs.constants[f.trim()] || 0;
    try { fs.closeSync(fs.openSync(s.open, flags, 0o644)); return { kind: 'allowed' }; } catch (e) { return errno(e); }
  }
  if (s.rename) {
    try { fs.renameSync(s.rename, s.to); return { kind: 'allowed' }; } catch (e) { return errno(e); }
  }
  if (s.connect) {
    return new Promise((done) => {
      const i = s.connect.lastIndexOf(':');
      const c = net.connect({ host: s.connect.slice(0, i), port: Number(s.connect.slice(i + 1)) });
      c.setTimeout(10000, () => { c.destroy(); done({ kind: 'errno', errno: 'ETIMEDOUT' }); });
      c.on('connect', () => { c.destroy(); done({ kind: 'allowed' }); });
      c.on('error', (e) => done(errno(e)));
    });
  }
  return { kind: 'errno', errno: 'unknown step' };
}
let queue = Promise.resolve();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(async () => {
    const req = JSON.parse(line);
    try {
      if (req.op === 'run') {
        const r = cp.spawnSync(req.program, req.args, { input: req.input || '', encoding: 'utf8', timeout: 60000, maxBuffer: 64 << 20 });
        send({ id: req.id, result: { stdout: r.stdout || '', stderr: r.error ? String(r.error.message) : r.stderr || '', exitCode: r.status === null ? 128 : r.status } });
      } else if (req.op === 'step') send({ id: req.id, outcome: await step(req.step) });
      else if (req.op === 'spawn') { child(req.uid); send({ id: req.id }); }
      else if (req.op === 'pid') send({ id: req.id, pid: process.pid });
      else send({ id: req.id, error: 'unknown op ' + req.op });
    } catch (e) { send({ id: req.id, error: String(e && e.message || e) }); }
  });
}).on('close', () => { for (const c of children.values()) c.kill(); process.exit(0); });
`;

type Answer = { result?: ExecResult; outcome?: StepOutcome; pid?: number; error?: string };

/** One agent process on the target and its request/answer lines. */
class AgentLink {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Answer) => void>();
  private closed: string | undefined;
  /** The agent's process id on the target (known once it answered). */
  pid = 0;

  constructor(
    readonly transport: HelperTransport,
    what: string,
  ) {
    let buf = '';
    let stderr = '';
    transport.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    transport.output.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let r: Answer & { id: number };
        try {
          r = JSON.parse(line);
        } catch {
          continue;
        }
        this.waiting.get(r.id)?.(r);
        this.waiting.delete(r.id);
      }
    });
    void transport.exited.then((code) => {
      this.closed = `the test agent (${what}) exited (${code ?? 'signal'})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
      for (const w of this.waiting.values()) w({ error: this.closed });
      this.waiting.clear();
    });
  }

  ask(req: Record<string, unknown>): Promise<Answer> {
    if (this.closed) return Promise.reject(new Error(this.closed));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.transport.input.write(JSON.stringify({ ...req, id }) + '\n');
    });
  }
}

/**
 * The step agents of a run on one target (see AGENT_SCRIPT). `exec` has Target.exec's shape, so the runner's
 * setup, inode lookups and cleanup go through the root agent instead of one ssh command each.
 */
export class StepAgent {
  private constructor(
    private readonly root: AgentLink,
    private readonly byUid: ReadonlyMap<number, AgentLink>,
    private readonly what: string,
  ) {}

  /** Starts the root agent and one agent per other uid in `uids`, all at once. */
  static async start(target: RemoteTarget, uids: readonly number[] = []): Promise<StepAgent> {
    const link = (uid: number) => new AgentLink(spawnTransport('ssh', target.sshArgs('env', [`BLS_AGENT_SCRIPT=${AGENT_SCRIPT}`, 'node', '-e', AGENT_SCRIPT, String(uid)]), target.id), `${target.id}, uid ${uid}`);
    const root = link(0);
    const byUid = new Map(uids.filter((u) => u !== 0).map((u) => [u, link(u)] as const));
    const agent = new StepAgent(root, byUid, target.id);
    // Ready when each answers with its pid (node has started): a failure to start shows here, not at the first step.
    await Promise.all(
      [root, ...byUid.values()].map(async (l) => {
        const r = await l.ask({ op: 'pid' });
        if (!r.pid) throw new Error(`the test agent on ${target.id} did not start: ${r.error ?? 'no answer'}`);
        l.pid = r.pid;
      }),
    );
    return agent;
  }

  async exec(program: string, args: readonly string[], options: { input?: string | Buffer } = {}): Promise<ExecResult> {
    const r = await this.root.ask({ op: 'run', program, args, input: options.input?.toString() ?? '' });
    if (!r.result) throw new Error(r.error ?? `the test agent on ${this.what} gave no answer`);
    return r.result;
  }

  /**
   * Which process performs a step (what a tracer follows): the root agent, which spawns exec steps (its own
   * events are not the step's: `skipTgid`), or the agent of the step's uid, which does the operation itself.
   */
  performer(step: Step): { pid: number; skipTgid?: number } {
    if ('exec' in step) return { pid: this.root.pid, skipTgid: this.root.pid };
    return { pid: this.linkFor(step).pid };
  }

  private linkFor(step: Step): AgentLink {
    // exec steps spawn with the uid from the root agent; the others run in that uid's own agent.
    return 'exec' in step ? this.root : (this.byUid.get(uidOf(step.as)) ?? this.root);
  }

  async step(step: Step): Promise<StepOutcome> {
    const uid = uidOf(step.as);
    const link = this.linkFor(step);
    const r = await link.ask({ op: 'step', step: { ...step, uid } });
    if (!r.outcome) throw new Error(`running "${describeStep(step)}" on ${this.what} failed: ${r.error ?? 'no answer'}`);
    return r.outcome;
  }

  async close(): Promise<void> {
    await Promise.all([this.root, ...this.byUid.values()].map((l) => l.transport.close()));
  }
}
