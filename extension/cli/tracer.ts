// `bpf-lsm tracer status|stop [--target T] [--json]`: the target's resident tracer (see
// extension/helper/residentTracer.ts). The first trace on a target leaves the tracer loaded and attached so
// that every later trace starts at once; `status` shows it, `stop` releases it now (its programs are
// detached on the target in the background; `status` shows "releasing" until they are gone).
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { createTarget, resolveTargetId } from '../core/targets';
import { HelperClient } from '../core/helperClient';
import type { ResidentTracerInfo } from '../shared/helperProtocol';

const usage = `usage: bpf-lsm tracer status|stop [options]
  status              the resident tracer(s) on the target: traces running, idle time, links attached
  stop                release them now (detached in the background on the target)
  --target T          local, vm, ssh:<host> or auto (default: $BPF_LSM_TARGET, else auto)
  --json              print JSON`;

function describe(t: ResidentTracerInfo): string {
  const idle = t.idleMs ? `released after ${Math.round(t.idleMs / 60_000)} min idle` : 'kept until the target stops';
  const since = t.idleForMs !== undefined ? `, idle for ${Math.round(t.idleForMs / 1000)} s` : '';
  if (t.state === 'releasing') return `${t.key}: releasing (${t.links} program(s) still attached)`;
  if (t.state === 'incomplete') return `${t.key}: incomplete (its creator stopped; released by the next trace)`;
  return `${t.key}: resident, ${t.links} program(s) attached, ${t.tracesRunning} trace(s) running${since}; ${idle}`;
}

export const tracerCommand: Subcommand = {
  name: 'tracer',
  summary: 'show or release the tracer that stays attached on a target between traces',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { target: { value: true }, json: {} });
    const [action, ...extra] = args.positional;
    if (action !== 'status' && action !== 'stop') throw new UsageError(action ? `unknown action "${action}"` : 'say status or stop');
    if (extra.length) throw new UsageError(`unexpected ${extra.join(' ')}`);
    const targetId = resolveTargetId(String(args.flags.get('target') ?? process.env.BPF_LSM_TARGET ?? 'auto'));
    const target = createTarget(targetId);
    if (target.stopped()) {
      // Nothing can be resident in a VM that is not running: say so without booting it.
      if (args.flags.has('json')) console.log(JSON.stringify({ target: targetId, tracers: [], released: [] }));
      else console.log(`${target.description} is not running: no tracer is resident there`);
      return 0;
    }
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
