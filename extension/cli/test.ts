// `bpf-lsm test`: runs scenario files (*.lsmtest.json) on the built-in VM's kernels; one line per scenario
// and kernel, a summary, JUnit XML on request, exit status 1 on any failure.
import { relative } from 'node:path';
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { findScenarioFiles, readScenarioFile } from '../core/testing/discover';
import { runScenarioFiles, type CaseResult } from '../core/testing/runner';
import { junitXml } from '../core/testing/junit';
import { DEFAULT_VM_KERNEL, parseVmKernel, type VmKernel } from '../core/vm/kernels';
import type { ScenarioFile } from '../core/testing/scenarioFile';
import { writeFileAtomic } from '../shared/atomicWrite';

const usage = `usage: bpf-lsm test [--kernel 6.1,6.12] [--junit FILE] [--grep TEXT] [--quiet] [PATH...]
  PATH               scenario files (*.lsmtest.json) or folders to search for them (default: .)
  --kernel LIST      the built-in VM kernels to run on, comma-separated (default: each file's "kernels",
                     else ${DEFAULT_VM_KERNEL}); each kernel's VM is started when it is not running
  --junit FILE       write JUnit XML (test cases named "<scenario> [<kernel>]")
  --grep TEXT        only scenarios whose name contains TEXT
  --quiet            no progress messages
Each scenario runs from a clean state: its probes are built for the kernel, loaded and attached, maps set and
setup applied, then everything is removed. Exit status: 0 all passed, 1 a scenario failed, 2 usage error.`;

export const testCommand: Subcommand = {
  name: 'test',
  summary: 'run scenario files (*.lsmtest.json) against the built-in VM kernels',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { kernel: { value: true }, junit: { value: true }, grep: { value: true }, quiet: {} });
    const quiet = args.flags.has('quiet');
    let kernelFlag: VmKernel[] | undefined;
    try {
      const k = args.flags.get('kernel');
      if (k !== undefined) kernelFlag = [...new Set(String(k).split(',').filter(Boolean).map(parseVmKernel))];
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const paths = args.positional.length ? args.positional : ['.'];
    let files: ScenarioFile[];
    try {
      const found = findScenarioFiles(paths);
      if (!found.length) throw new Error(`no scenario files (*.lsmtest.json) under ${paths.join(', ')}`);
      files = found.map(readScenarioFile);
    } catch (err) {
      console.error(`bpf-lsm test: ${(err as Error).message}`);
      return 1;
    }
    const grep = args.flags.get('grep');
    const kernels = kernelFlag ?? [...new Set(files.flatMap((f) => f.kernels ?? [DEFAULT_VM_KERNEL]))];
    const started = Date.now();
    const line = (r: CaseResult) => {
      const where = `${relative(process.cwd(), r.file)} › ${r.scenario}`;
      console.log(`${r.passed ? '  ok  ' : '  FAIL'} ${r.kernel.padEnd(5)} ${where} (${(r.durationMs / 1000).toFixed(1)} s)`);
      if (!r.passed) console.log(r.message!.split('\n').map((l) => `        ${l}`).join('\n'));
    };
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    let results: CaseResult[];
    try {
      results = await runScenarioFiles(files, {
        kernels,
        include: (file, scenario, kernel) => (typeof grep !== 'string' || scenario.includes(grep)) && (kernelFlag !== undefined || (files.find((f) => f.path === file)?.kernels ?? [DEFAULT_VM_KERNEL]).includes(kernel)),
        onResult: line,
        progress: (m) => {
          if (!quiet) process.stderr.write(`bpf-lsm test: ${m}\n`);
        },
        signal: controller.signal,
      });
    } finally {
      process.off('SIGINT', onSignal);
    }
    const failed = results.filter((r) => !r.passed).length;
    console.log(`${results.length - failed} passed, ${failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    const junit = args.flags.get('junit');
    if (typeof junit === 'string') {
      writeFileAtomic(junit, junitXml(results));
    }
    if (results.length === 0) {
      console.error('bpf-lsm test: no scenario ran (check --grep and --kernel)');
      return 1;
    }
    return failed ? 1 : 0;
  },
};
