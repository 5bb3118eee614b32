// `bpf-lsm`: the command line over the same core as the extension. It is how the main job runs
// headless (`bpf-lsm trace -- /usr/bin/ls /home`) and how the VM tests and benchmarks drive the product.
import { UsageError } from './args';
import { Subcommand } from './subcommand';
import { vmCommand } from './vm';
import { checkCommand } from './check';
import { hooksCommand } from './hooks';
import { traceCommand } from './trace';
import { tracerCommand } from './tracer';
import { buildCommand, loadCommand } from './build';
import { policyCommand } from './policy';
import { testCommand } from './test';
import { installHelperCommand } from './installHelper';
import { formatTimings, mark, timingsEnabled } from '../core/timings';

const subcommands: Subcommand[] = [
  traceCommand,
  tracerCommand,
  hooksCommand,
  vmCommand,
  checkCommand,
  buildCommand,
  loadCommand,
  policyCommand,
  testCommand,
  installHelperCommand,
];

function help(): string {
  const width = Math.max(...subcommands.map((s) => s.name.length));
  return [
    'usage: bpf-lsm <command> [options]',
    '',
    ...subcommands.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`),
    '',
    'bpf-lsm <command> --help shows the options of one command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  mark('node started, CLI loaded');
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const sub = subcommands.find((s) => s.name === name);
  if (!sub) {
    console.error(`bpf-lsm: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest[0] === '--help' || rest[0] === '-h') {
    console.log(sub.usage);
    return 0;
  }
  try {
    return await sub.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bpf-lsm ${name}: ${err.message}\n\n${sub.usage}`);
      return 2;
    }
    console.error(`bpf-lsm ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

/**
 * Resolves once what was written to `stream` has left the process. Writes to a file are synchronous, but a
 * pipe takes what fits (64 KiB on Linux) and Node queues the rest: `bpf-lsm trace ... | less` lost all but the
 * first 64 KiB when the reader was slower than the exit. A reader that went away (EPIPE) ends the wait too.
 */
export function flushed(stream: NodeJS.WritableStream & { writableLength?: number; destroyed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (!stream.writableLength || stream.destroyed) return resolve();
    stream.once('error', () => resolve());
    stream.write('', () => resolve());
  });
}

// Exit as soon as the command is done and its output is out: a trace leaves its helper detaching programs on
// the target in the background (its stream closes when we exit), and nothing else of ours should keep the
// process up.
async function exit(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

// A reader that goes away (`bpf-lsm trace ... | head`) ends the command as SIGPIPE ends other tools: at once,
// with status 141 and no stack trace. A traced program goes with it: the helper kills it when our stream closes.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(141);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    if (timingsEnabled()) process.stderr.write(`bpf-lsm: where the time went (BPF_LSM_TIMINGS=1):\n${formatTimings()}\n  ${performance.now().toFixed(0).padStart(6)} ms  exit\n`);
    return exit(code);
  },
  (err) => {
    console.error(err);
    return exit(1);
  },
);
