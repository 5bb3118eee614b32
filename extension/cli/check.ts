// `bpf-lsm check [--target T] [--json]`: whether a target can run BPF-LSM programs, each failure with its remedy.
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { checkTarget, formatReport } from '../core/targets/check';
import { createTarget, resolveTargetId } from '../core/targets';

const usage = `usage: bpf-lsm check [--target local|vm|ssh:<host>|auto] [--no-attach] [--json]
Checks the kernel release, CONFIG_BPF_LSM, bpf in the active LSM list, kernel BTF, unprivileged and
privileged (sudo -n) access, clang, bpftool and libbpf, and counts the LSM hooks in the target's BTF.
Exit status: 0 when the target is ready, 1 when a check failed (each failure prints its remedy).
  --target T   default: auto (local when this kernel runs BPF-LSM programs, else the built-in VM)
  --no-attach  do not count the hooks that attach (that loads one program per hook through the helper;
               the target then spends ~30 s detaching them in the background)
  --json       print the report as JSON`;

export const checkCommand: Subcommand = {
  name: 'check',
  summary: 'check that a target can run BPF-LSM programs, with remedies',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { target: { value: true }, json: {}, 'no-attach': {} });
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
    let id: string;
    try {
      id = resolveTargetId((args.flags.get('target') as string | undefined) ?? process.env.BPF_LSM_TARGET ?? 'auto');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const target = createTarget(id);
    const report = await checkTarget(target, { attach: !args.flags.has('no-attach') });
    console.log(args.flags.has('json') ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.ok ? 0 : 1;
  },
};
