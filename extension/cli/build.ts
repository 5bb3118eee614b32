// `bpf-lsm build FILE` and `bpf-lsm load FILE`: the edit-build-load loop without VS Code. Both compile
// against the target kernel's BTF; load also sends the object to the helper, which loads and attaches it,
// and prints a verifier rejection as "file:line:col: error: verifier: ..." (what editors and problem
// matchers read) with the explanation and, with --log, the whole verifier log.
import { readFileSync } from 'node:fs';
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { createTarget, resolveTargetId } from '../core/targets';
import { connectForBuild, buildForTarget } from '../core/probes/target';
import { objectName, type ProbeBuild } from '../core/probes/probe';
import { checkSections, loadProbe } from '../core/probes/load';
import { formatVerifierDiagnostic } from '../core/verifier/diagnose';
import type { HelperClient } from '../core/helperClient';
import type { Target } from '../core/target';

const targetHelp = `  --target T          local, vm, vm:6.12, ssh:<host> or auto (default: $BPF_LSM_TARGET, else auto)`;

async function open(targetFlag: string | true | undefined, progress: (m: string) => void): Promise<{ client: HelperClient; btfPath: string; target: Target }> {
  const target = createTarget(resolveTargetId(String(targetFlag ?? process.env.BPF_LSM_TARGET ?? 'auto')));
  await target.ensureUp(progress);
  return { ...(await connectForBuild(target)), target };
}

function printBuild(b: ProbeBuild): void {
  for (const d of b.diagnostics) console.error(`${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`);
}

async function compile(argv: string[], name: 'build' | 'load') {
  const args = parseArgs(argv, { target: { value: true }, out: { value: true }, quiet: {}, log: {}, 'no-attach': {}, json: {}, ...(name === 'build' ? { btf: { value: true } } : {}) });
  if (args.positional.length !== 1) throw new UsageError(`name one probe source (FILE.bpf.c)`);
  const source = args.positional[0];
  const quiet = args.flags.has('quiet');
  const progress = (m: string) => {
    if (!quiet) process.stderr.write(`bpf-lsm ${name}: ${m}\n`);
  };
  const out = args.flags.get('out');
  const outOpt = typeof out === 'string' ? { output: out } : {};
  if (name === 'build') {
    // Compiling needs the target kernel's BTF only, not its helper (nor a running VM).
    const btfFlag = args.flags.get('btf');
    const target = createTarget(resolveTargetId(String(args.flags.get('target') ?? process.env.BPF_LSM_TARGET ?? 'auto')));
    const btf = typeof btfFlag === 'string' ? { path: btfFlag, what: btfFlag } : await target.kernel.buildBtf();
    progress(`compiling for ${btf.what}`);
    return { args, client: undefined, target, btfPath: btf.path, build: await buildForTarget(source, btf.path, { ...outOpt, fallbackTarget: target }), progress, source };
  }
  const { client, btfPath, target } = await open(args.flags.get('target'), progress);
  return { args, client, target, btfPath, build: await buildForTarget(source, btfPath, { ...outOpt, fallbackTarget: target }), progress, source };
}

export const buildCommand: Subcommand = {
  name: 'build',
  summary: 'compile a probe with CO-RE against the target kernel (vmlinux.h from its BTF)',
  usage: `usage: bpf-lsm build [options] FILE.bpf.c
${targetHelp}
  --btf PATH          compile against this BTF (raw BTF or vmlinux) instead of the target's
  --out PATH          object file (default: FILE.bpf.o next to the source)
  --quiet             no progress messages
Compile errors are printed as file:line:col: error: message. Exit status 1 when the build fails.`,
  async run(argv) {
    const { build, progress } = await compile(argv, 'build');
    printBuild(build);
    if (!build.ok) return 1;
    progress(`built ${build.objectPath}`);
    return 0;
  },
};

export const loadCommand: Subcommand = {
  name: 'load',
  summary: 'build a probe, load and attach it on the target, and map verifier rejections to source lines',
  usage: `usage: bpf-lsm load [options] FILE.bpf.c
${targetHelp}
  --out PATH          object file (default: FILE.bpf.o next to the source)
  --no-attach         load only (still runs the verifier)
  --log               print the whole verifier log of a rejected program
  --json              print the outcome as one JSON object on stdout
  --quiet             no progress messages
The probe stays loaded only while this command runs (use bpf-lsm policy for enforcement that persists).
Exit status: 0 loaded, 1 compile error or verifier rejection, 3 hooks missing on the target.`,
  async run(argv) {
    const { args, client, target, build, progress, source } = await compile(argv, 'load');
    if (!client) throw new Error('no helper connection');
    try {
      printBuild(build);
      if (!build.ok) return 1;
      const warnings = checkSections(readFileSync(source, 'utf8'), await target.kernel.catalog());
      for (const w of warnings) console.error(`${source}:${w.line}:1: warning: ${w.message}`);
      const r = await loadProbe(client, build.objectPath, { name: objectName(build.objectPath), attach: !args.flags.has('no-attach') });
      if (args.flags.has('json')) console.log(JSON.stringify(r));
      if (r.ok) {
        const failed = r.attach.filter((a) => !a.ok);
        for (const a of failed) console.error(`bpf-lsm load: attaching ${a.program} failed: ${a.message ?? a.code}`);
        progress(`loaded ${r.object.programs.map((p) => `${p.name} (${p.section})`).join(', ')}; ${r.attach.length - failed.length} attached`);
        return failed.length ? 3 : 0;
      }
      if (!r.rejected) {
        console.error(`bpf-lsm load: ${r.message}${r.remedy ? `\n  ${r.remedy}` : ''}`);
        return 1;
      }
      if (r.diagnostic) console.error(formatVerifierDiagnostic(r.diagnostic, source));
      else console.error(`${source}:1:1: error: verifier rejected ${r.program ?? 'the object'}: ${r.message}`);
      if (args.flags.has('log')) console.error(`--- verifier log of ${r.program ?? 'the object'} ---\n${r.log}`);
      return 1;
    } finally {
      await client.close();
    }
  },
};
