// `bpf-lsm tracer start|status|stop [--target T] [--json]`: the target's resident tracer (see
// extension/helper/residentTracer.ts). The first trace on a target leaves the tracer loaded and attached so
// that every later trace starts at once; `start` loads it before any trace (what `bpf-lsm vm up` runs in
// the background after a boot), `status` shows it, `stop` releases it now (its programs are detached on the
// target in the background; `status` shows "releasing" until they are gone).
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { createTarget, resolveTargetId } from '../core/targets';
import { HelperClient } from '../core/helperClient';
import { TracerSession } from '../core/trace/tracerSession';
import type { ResidentTracerInfo } from '../shared/helperProtocol';
import type { Target } from '../core/target';

const usage = `usage: bpf-lsm tracer start|status|stop [options]
  start               load and attach the tracer that bpf-lsm trace uses (every hook, children followed) and
                      leave it resident, so that the next trace starts at once; nothing when it already is
  status              the resident tracer(s) on the target: traces running, idle time, links attached
  stop                release them now (detached in the background on the target)
  --target T          local, vm, ssh:<host> or auto (default: $BPF_LSM_TARGET, else auto)
  --json              print JSON
  --quiet             no progress messages (start)`;

function describe(t: ResidentTracerInfo): string {
  const idle = t.idleMs ? `released after ${Math.round(t.idleMs / 60_000)} min idle` : 'kept until the target stops';
  const since = t.idleForMs !== undefined ? `, idle for ${Math.round(t.idleForMs / 1000)} s` : '';
  if (t.state === 'releasing') return `${t.key}: releasing (${t.links} program(s) still attached)`;
  if (t.state === 'loading') return `${t.key}: loading (a trace that starts now waits for it and reuses it)`;
  if (t.state === 'incomplete') return `${t.key}: incomplete (its creator stopped; released by the next trace)`;
  const detached = t.idle ? ` (+${t.idle} program(s) detached until a trace needs them)` : '';
  return `${t.key}: resident, ${t.links} program(s) attached${detached}, ${t.tracesRunning} trace(s) running${since}; ${idle}`;
}

/** Loads the default tracer (or finds it resident), then leaves: the tracer stays for the next trace. */
async function start(target: Target, targetId: string, json: boolean, quiet: boolean): Promise<number> {
  const t0 = Date.now();
  const progress = (m: string) => {
    if (!quiet) process.stderr.write(`bpf-lsm tracer: ${m} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  };
  const session = await TracerSession.connect(target, progress, { attachIdle: true, objectFirst: true });
  try {
    // The selection `bpf-lsm trace` and Trace Executable use by default, so that they find this one.
    const state = await session.prepare({}, progress);
    const t = state.timings;
    const ms = Date.now() - t0;
    if (json) console.log(JSON.stringify({ target: targetId, resident: true, loaded: !state.resident, kernel: state.kernel, hooks: state.attached.length, hookCount: state.hookCount, ms, timings: t }));
    else if (state.resident) console.log(`the tracer was already resident on ${targetId} (${state.attached.length} of ${state.hookCount} hooks, kernel ${state.kernel})`);
    else {
      console.log(
        `tracer resident on ${targetId} after ${(ms / 1000).toFixed(1)} s: ${state.attached.length} of ${state.hookCount} hooks attached, kernel ${state.kernel} ` +
          `(compile ${state.fromCache ? 'cached' : `${t.compileMs} ms`}, load ${t.loadMs} ms, attach ${t.attachMs} ms); traces there start at once`,
      );
    }
    return 0;
  } finally {
    await session.dispose();
  }
}

export const tracerCommand: Subcommand = {
  name: 'tracer',
  summary: 'load, show or release the tracer that stays attached on a target between traces',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { target: { value: true }, json: {}, quiet: {} });
    const [action, ...extra] = args.positional;
    if (action !== 'start' && action !== 'status' && action !== 'stop') throw new UsageError(action ? `unknown action "${action}"` : 'say start, status or stop');
    if (extra.length) throw new UsageError(`unexpected ${extra.join(' ')}`);
    const targetId = resolveTargetId(String(args.flags.get('target') ?? process.env.BPF_LSM_TARGET ?? 'auto'));
    const target = createTarget(targetId);
    if (target.stopped()) {
      // Nothing can be resident in a VM that is not running: say so without booting it. Neither does start
      // boot it: the one `vm up` leaves running in the background must not bring back a VM stopped meanwhile.
      if (action === 'start') {
        console.error(`bpf-lsm tracer: ${target.description} is not running; start it first (bpf-lsm vm up loads the tracer after booting)`);
        return 1;
      }
      if (args.flags.has('json')) console.log(JSON.stringify({ target: targetId, tracers: [], released: [] }));
      else console.log(`${target.description} is not running: no tracer is resident there`);
      return 0;
    }
    if (action === 'start') return start(target, targetId, args.flags.has('json'), args.flags.has('quiet'));
    const client = await HelperClient.connect(await target.startHelper(), { client: 'bpf-lsm tracer' });
    try {
      if (action === 'stop') {
        const { released } = await client.call('tracerRelease', {});
        const { tracers } = await client.call('tracerStatus', {});
        if (args.flags.has('json')) console.log(JSON.stringify({ target: targetId, released, tracers }));
        else console.log(released.length ? `released ${released.length} tracer(s) on ${targetId}; their programs are being detached in the background` : `no tracer was resident on ${targetId}`);
        return 0;
      }
      const { tracers } = await client.call('tracerStatus', {});
      if (args.flags.has('json')) console.log(JSON.stringify({ target: targetId, tracers }));
      else console.log(tracers.length ? tracers.map(describe).join('\n') : `no tracer is resident on ${targetId}`);
      return 0;
    } finally {
      await client.close().catch(() => undefined);
    }
  },
};
