// `bpf-lsm trace [options] -- PROGRAM ARGS...`: README's main command. Brings up the target (the built-in
// VM when this kernel cannot run BPF-LSM programs), loads and attaches the all-hooks tracer generated
// for the target's kernel, runs PROGRAM stopped, traces it and its children, and prints every hook call
// with decoded arguments inside its syscall, then a summary. Exits with PROGRAM's exit status.
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { createTarget, resolveTargetId } from '../core/targets';
import { TracerSession } from '../core/trace/tracerSession';
import { spawnStopped, traceProgram } from '../core/trace/traceProgram';
import { formatEvent, formatSummary } from '../core/trace/format';
import type { TraceEvent } from '../shared/traceEvent';
import { mark } from '../core/timings';

const usage = `usage: bpf-lsm trace [options] -- PROGRAM [ARGS...]
  --target T          local, vm, ssh:<host> or auto (default: $BPF_LSM_TARGET, else auto: this machine when
                      its kernel runs BPF-LSM programs, else the built-in VM)
  --category C,...    trace only hooks of these categories (file, inode, path, bprm, cred, task, socket, ...)
  --hooks h,...       trace only these hooks
  --no-follow         do not follow forks into children
  --json              one JSON object per event and line on stdout; the summary goes to stderr
  --as-root           run PROGRAM as root (default: the user who started the helper)
  --cwd DIR           PROGRAM's working directory on the target (default: here for local, / elsewhere)
  --show-skipped      list the hooks that are not traced and why
  --quiet             no progress messages`;

const list = (v: string | true | undefined): string[] | undefined =>
  typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

export const traceCommand: Subcommand = {
  name: 'trace',
  summary: 'trace a program and every LSM hook it (and its children) reaches',
  usage,
  async run(argv) {
    const started = Date.now();
    const args = parseArgs(argv, {
      target: { value: true }, category: { value: true }, hooks: { value: true }, 'no-follow': {}, json: {},
      'as-root': {}, cwd: { value: true }, 'show-skipped': {}, quiet: {},
    });
    if (args.positional.length) throw new UsageError(`put the program after --: bpf-lsm trace -- ${args.positional.join(' ')}`);
    if (args.rest.length === 0) throw new UsageError('name the program to trace after --');
    const json = args.flags.has('json');
    const quiet = args.flags.has('quiet');
    const progress = (m: string) => {
      if (!quiet) process.stderr.write(`bpf-lsm trace: ${m} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    };
    const target = createTarget(resolveTargetId(String(args.flags.get('target') ?? process.env.BPF_LSM_TARGET ?? 'auto')));
    mark('target resolved');
    await target.ensureUp(progress);
    mark('target up');
    const session = await TracerSession.connect(target, progress);
    const controller = new AbortController();
    const onSignal = () => {
      progress('interrupted: killing the traced program');
      controller.abort();
    };
    process.once('SIGINT', onSignal);
    const local = target.sharesThisMachine;
    const program = {
      argv: args.rest,
      cwd: typeof args.flags.get('cwd') === 'string' ? String(args.flags.get('cwd')) : local ? process.cwd() : undefined,
      env: local ? (Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined)) as Record<string, string>) : undefined,
      asRoot: args.flags.has('as-root'),
    };
    // Spawned (stopped) while the tracer is reopened or loaded; if that fails, the helper kills it when we go.
    const spawned = spawnStopped(session, program);
    void spawned.then(() => mark('program spawned stopped (while the tracer is prepared)'), () => undefined);
    try {
      const state = await session.prepare(
        { categories: list(args.flags.get('category')), hooks: list(args.flags.get('hooks')), follow: !args.flags.has('no-follow') },
        progress,
      );
      const t = state.timings;
      progress(
        state.resident
          ? `${state.attached.length} of ${state.hookCount} hooks traced by the tracer resident on the target (kernel ${state.kernel}; reopened in ${t.acquireMs} ms)`
          : `${state.attached.length} of ${state.hookCount} hooks attached on kernel ${state.kernel} ` +
              `(BTF ${state.btfFromCache ? 'cached ' : ''}${t.btfMs} ms, compile ${state.fromCache ? 'cached' : `${t.compileMs} ms`}, load ${t.loadMs} ms, attach ${t.attachMs} ms); ` +
              'it stays attached for the next traces (bpf-lsm tracer start|status|stop)',
      );
      if (args.flags.has('show-skipped')) {
        for (const s of state.notTraced) process.stderr.write(`  not traced: ${s.hook}: ${s.reason}\n`);
      }
      let t0: number | undefined;
      const out: string[] = [];
      const write = (events: TraceEvent[]) => {
        for (const e of events) {
          t0 ??= e.time;
          out.push(json ? JSON.stringify(e) : formatEvent(e, t0));
        }
        // The empty last item gives the trailing newline: `join(...) + '\n'` made a second copy of the batch's text.
        out.push('');
        process.stdout.write(out.join('\n'));
        out.length = 0;
      };
      const summary = await traceProgram(
        session,
        {
          ...program,
          spawned,
          signal: controller.signal,
          onOutput: (stream, text) => (json || stream === 'stderr' ? process.stderr : process.stdout).write(text),
        },
        write,
      );
      const text = formatSummary(summary, state);
      (json ? process.stderr : process.stdout).write(`${text}\n`);
      mark('summary printed');
      if (summary.drops.unaccounted > 0) {
        process.stderr.write(`bpf-lsm trace: ${summary.drops.unaccounted} records are unaccounted for (produced but neither delivered nor counted as dropped)\n`);
      }
      return summary.exitCode ?? 128 + 9;
    } finally {
      process.removeListener('SIGINT', onSignal);
      // No shutdown request: when its stream closes the helper gives the trace slot back; the tracer stays
      // resident for the next trace (its release never waits on a user).
    }
  },
};
