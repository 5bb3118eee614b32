// The scenario runner behind `bpf-lsm test` and the Test Explorer: for each kernel, bring up that kernel's
// built-in VM, connect one helper, build each file's probes against that kernel's BTF, load and attach them
// for the file, and run every scenario from a clean state: the probes' hash maps emptied and their arrays and
// globals back to their values at load (probeState.ts), setup applied, maps set, steps run, then the maps and
// globals reset again and every path the scenario created deleted, so no scenario
// sees another's leftovers; after the file its objects are unloaded (which detaches their programs). A file's
// policy (scenarioPolicy.ts) is applied after each scenario's setup and cleared after the file. Loading
// once per file and not per scenario matters: the verifier takes seconds per load in a TCG guest. A probe
// that does not build or load on one kernel fails that kernel's scenarios with the compiler's or verifier's
// message; the others still run.
import { dirname, join, resolve } from 'node:path';
import { shellQuote } from '../targets/quote';
import { HelperClient } from '../helperClient';
import type { Target } from '../target';
import { vmTarget } from '../targets/vm';
import { buildForTarget } from '../probes/target';
import { loadProbe } from '../probes/load';
import { objectName } from '../probes/probe';
import { formatVerifierDiagnostic } from '../verifier/diagnose';
import { BuiltinVm } from '../vm/vm';
import { kernelAssetsAt } from '../vm/kernel';
import { cacheRoot } from '../vm/paths';
import type { VmKernel } from '../vm/kernels';
import type { MapEntry, Scenario, ScenarioFile, SetupStep } from './scenarioFile';
import { encodeValue, resolveInodes } from './encoders';
import { describeExpectation, describeOutcome, describeStep, outcomeMatches, StepAgent, uidOf } from './steps';
import { ProbeState } from './probeState';
import type { LoadedObjectInfo } from '../../shared/helperProtocol';
import { listEvents, StepTracer, tracedHooks, unmatchedEvents, untraced, type StepEvents } from './stepEvents';
import { ScenarioPolicy } from './scenarioPolicy';

export interface CaseResult {
  readonly file: string;
  readonly scenario: string;
  /** 1-based line of the scenario in its file. */
  readonly line: number;
  readonly kernel: VmKernel;
  readonly passed: boolean;
  /** Why it failed: expected vs happened, or the build/load/setup error. */
  readonly message?: string;
  readonly durationMs: number;
}

export interface RunOptions {
  readonly kernels: readonly VmKernel[];
  /** Only these cases (all when absent). */
  readonly include?: (file: string, scenario: string, kernel: VmKernel) => boolean;
  readonly onResult?: (r: CaseResult) => void;
  readonly progress?: (message: string) => void;
  readonly signal?: AbortSignal;
  /** Where a kernel's run spent its time, once it is over (benchmarks print it). */
  readonly onTimings?: (kernel: VmKernel, t: KernelTimings) => void;
}

/** Milliseconds from the start of a kernel's run until each part was ready (builds: the last one), and the probes' load total. */
export interface KernelTimings {
  vmMs: number;
  helperMs: number;
  agentsMs: number;
  tracerMs: number;
  buildMs: number;
  loadMs: number;
}

/** A built probe per kernel, or why it could not be built. */
type Built = { ok: true; objects: Array<{ source: string; objectPath: string }> } | { ok: false; message: string };

function buildDir(kernel: VmKernel): string {
  return join(cacheRoot(), 'test', kernel);
}

async function buildProbes(file: ScenarioFile, kernel: VmKernel, btfPath: string, target: Target): Promise<Built> {
  const objects: Array<{ source: string; objectPath: string }> = [];
  for (const p of file.probes) {
    const source = resolve(dirname(file.path), p);
    const objectPath = join(buildDir(kernel), `${objectName(source).replace(/[^\w.-]/g, '_')}-${Buffer.from(source).toString('hex').slice(-16)}.bpf.o`);
    let b;
    try {
      b = await buildForTarget(source, btfPath, { output: objectPath, fallbackTarget: target });
    } catch (err) {
      return { ok: false, message: `${p} did not build for ${kernel}: ${(err as Error).message}` };
    }
    if (!b.ok) {
      const errors = b.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.file}:${d.line}:${d.column}: error: ${d.message}`);
      return { ok: false, message: `${p} does not build for ${kernel}:\n${errors.join('\n')}` };
    }
    objects.push({ source, objectPath });
  }
  return { ok: true, objects };
}

/**
 * Paths a scenario may create (setup targets and the folders above them that mkdir -p makes, rename
 * destinations, files opened with O_CREAT), outermost first.
 */
function createdPaths(setup: readonly SetupStep[], scenario: Scenario): string[] {
  const out: string[] = [];
  const add = (p: string) => {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const sub = '/' + parts.slice(0, i).join('/');
      if (!out.includes(sub)) out.push(sub);
    }
  };
  for (const s of setup) add('mkdir' in s ? s.mkdir : 'write' in s ? s.write : s.to);
  for (const st of scenario.steps) {
    if ('rename' in st) add(st.to);
    if ('open' in st && /O_CREAT/.test(st.flags ?? '')) add(st.open);
  }
  return out;
}

async function rootSh(target: Target, script: string, args: string[], input?: string): Promise<void> {
  const r = await target.exec('sh', ['-c', script, 'sh', ...args], { root: true, timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });
  if (r.exitCode !== 0) throw new Error(`${r.stderr.trim() || `exit ${r.exitCode}`}`);
}

/** All setup steps as one shell script (one process start instead of one per step); it stops at the first failure and says which. */
export function setupScript(steps: readonly SetupStep[]): { script: string; input: string } {
  const lines = ['set -e', 'fail() { echo "setup \\"$1\\" failed" >&2; exit 1; }'];
  let input = '';
  steps.forEach((s, i) => {
    if ('mkdir' in s) lines.push(`{ mkdir -p ${shellQuote(s.mkdir)} && chmod ${s.mode ?? '0755'} ${shellQuote(s.mkdir)}; } || fail ${shellQuote(`mkdir ${s.mkdir}`)}`);
    else if ('write' in s) {
      // Contents travel on stdin, each as one base64 line (read in order), so no content is ever parsed by the shell.
      input += Buffer.from(s.content).toString('base64') + '\n';
      lines.push(`{ mkdir -p "$(dirname ${shellQuote(s.write)})" && read -r c${i} && echo "$c${i}" | base64 -d > ${shellQuote(s.write)} && chmod ${s.mode ?? '0644'} ${shellQuote(s.write)}; } || fail ${shellQuote(`write ${s.write}`)}`);
    } else lines.push(`{ mkdir -p "$(dirname ${shellQuote(s.to)})" && cp ${shellQuote(s.copy)} ${shellQuote(s.to)} && chmod ${s.mode ?? '0755'} ${shellQuote(s.to)}; } || fail ${shellQuote(`copy ${s.copy} to ${s.to}`)}`);
  });
  return { script: lines.join('\n'), input };
}

async function applySetup(target: Target, steps: readonly SetupStep[]): Promise<void> {
  if (!steps.length) return;
  const { script, input } = setupScript(steps);
  try {
    await rootSh(target, script, [], input);
  } catch (err) {
    throw new Error(`${(err as Error).message} on ${target.id}`);
  }
}

/** Loaded objects of one file on one kernel: ids, which object holds each (non-internal) map, and their state at load. */
interface LoadedProbes {
  readonly ids: number[];
  readonly maps: Map<string, { objectId: number; type: string }>;
  readonly objects: LoadedObjectInfo[];
  state?: ProbeState;
}

/** Loads and attaches a file's built probes; a rejection or attach failure becomes the message every scenario of the file fails with. */
async function loadProbes(client: HelperClient, kernel: VmKernel, built: Built): Promise<LoadedProbes | string> {
  if (!built.ok) return built.message;
  const loaded: LoadedProbes = { ids: [], maps: new Map(), objects: [] };
  for (const o of built.objects) {
    const r = await loadProbe(client, o.objectPath, { name: objectName(o.source) });
    if (!r.ok) {
      await unloadProbes(client, loaded);
      if (r.rejected && r.diagnostic) return `${objectName(o.source)} was rejected by the ${kernel} verifier:\n${formatVerifierDiagnostic(r.diagnostic, o.source)}`;
      return `${objectName(o.source)} did not load on ${kernel}: ${r.message}${!r.rejected && r.remedy ? ` (${r.remedy})` : ''}`;
    }
    loaded.ids.push(r.object.objectId);
    const failed = r.attach.filter((a) => !a.ok);
    if (failed.length) {
      await unloadProbes(client, loaded);
      return `${objectName(o.source)}: attaching ${failed.map((a) => `${a.program} (${a.message ?? a.code})`).join(', ')} failed on ${kernel}`;
    }
    for (const m of r.object.maps) if (!m.internal) loaded.maps.set(m.name, { objectId: r.object.objectId, type: m.type });
    loaded.objects.push(r.object);
  }
  try {
    loaded.state = await ProbeState.snapshot(client, loaded.objects);
  } catch (err) {
    await unloadProbes(client, loaded);
    return `reading the probes' maps and globals after load on ${kernel} failed: ${(err as Error).message}`;
  }
  return loaded;
}

async function unloadProbes(client: HelperClient, loaded: LoadedProbes): Promise<void> {
  for (const id of [...loaded.ids].reverse()) await client.call('unloadObject', { objectId: id }).catch(() => undefined);
}

/** The file's policy, ready to apply on the target, or why its scenarios cannot run. */
async function usePolicy(file: ScenarioFile, target: Target): Promise<ScenarioPolicy | string | undefined> {
  try {
    const policy = ScenarioPolicy.read(file);
    return policy && ((await policy.conflict(target)) ?? policy);
  } catch (err) {
    return (err as Error).message;
  }
}

/** Runs one scenario on one kernel from a clean state and leaves nothing behind. */
async function runScenario(client: HelperClient, target: Target, agent: StepAgent, tracer: StepTracer | string, kernel: VmKernel, file: ScenarioFile, loaded: LoadedProbes | string, scenario: Scenario, policy: ScenarioPolicy | undefined): Promise<string | undefined> {
  if (typeof loaded === 'string') return loaded;
  const setup = [...file.setup, ...(scenario.setup ?? [])];
  const created = createdPaths(setup, scenario);
  // Which of them exist already: those are left alone when cleaning up.
  const existing = await target.exec('sh', ['-c', 'for p; do [ -e "$p" ] && echo 1 || echo 0; done', 'sh', ...created], { root: true, timeoutMs: 60_000 });
  const fresh = created.filter((_, i) => existing.stdout.split('\n')[i] === '0');
  try {
    await loaded.state!.reset(client);
    await applySetup(target, setup);
    const maps: Array<[string, MapEntry]> = [];
    for (const src of [file.maps, scenario.maps ?? {}]) for (const [name, entries] of Object.entries(src)) for (const e of entries) maps.push([name, e]);
    const inodes = await resolveInodes(target, maps.flatMap(([, e]) => [e.key, e.value]));
    for (const [name, e] of maps) {
      const m = loaded.maps.get(name);
      if (m === undefined) return `map "${name}" is not in ${file.probes.join(', ')} (maps: ${[...loaded.maps.keys()].join(', ') || 'none'})`;
      try {
        await client.call('mapUpdate', { objectId: m.objectId, map: name, key: encodeValue(e.key, inodes), value: encodeValue(e.value, inodes) });
      } catch (err) {
        return `setting map "${name}" key ${JSON.stringify(e.key)} failed: ${(err as Error).message}`;
      }
    }
    const notApplied = await policy?.apply(target, client);
    if (notApplied) return notApplied;
    for (const step of scenario.steps) {
      let outcome;
      let seen: StepEvents;
      if (typeof tracer === 'string') {
        outcome = await agent.step(step);
        seen = untraced(tracer);
      } else {
        const who = agent.performer(step);
        ({ result: outcome, seen } = await tracer.observe(who.pid, who.skipTgid, 'exec' in step, () => agent.step(step)));
      }
      const wrong = outcomeMatches(step.expect, outcome) ? undefined : `expected ${describeExpectation(step.expect)}, got ${describeOutcome(outcome)}`;
      const missing = step.events?.length ? unmatchedEvents(step.events, seen) : undefined;
      if (wrong || missing) {
        const output = wrong && outcome.output?.trim() ? `\n  output: ${outcome.output.trim().split('\n').join('\n          ')}` : '';
        return `${describeStep(step)} on ${kernel}: ${[wrong, missing].filter(Boolean).join('\n  ')}${output}\n${listEvents(seen)}`;
      }
    }
    return undefined;
  } finally {
    // Maps and globals first, so the probe denies no more than it did at load while the files go.
    await loaded.state!.reset(client).catch(() => undefined);
    if (fresh.length) await target.exec('rm', ['-rf', '--', ...[...fresh].reverse()], { root: true, timeoutMs: 60_000 }).catch(() => undefined);
  }
}

/** Runs the files' scenarios on each kernel in turn and returns one result per scenario and kernel. */
export async function runScenarioFiles(files: readonly ScenarioFile[], opts: RunOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const progress = opts.progress ?? (() => undefined);
  const report = (r: CaseResult) => {
    results.push(r);
    opts.onResult?.(r);
  };
  const include = opts.include ?? (() => true);
  for (const kernel of opts.kernels) {
    const cases = files.flatMap((f) => f.scenarios.filter((s) => include(f.path, s.name, kernel)).map((s) => ({ f, s })));
    if (!cases.length) continue;
    if (opts.signal?.aborted) break;
    const mine = files.map((f) => ({ f, scenarios: cases.filter((c) => c.f === f).map((c) => c.s) })).filter((x) => x.scenarios.length);
    const vm = BuiltinVm.of(kernel);
    let client: HelperClient | undefined;
    let agent: StepAgent | undefined;
    // One tracer for the kernel's whole run, on the hooks its files name; without it steps still run, unlisted.
    let tracer: StepTracer | string = 'no hooks to trace';
    let target: Target | undefined;
    let setupError: string | undefined;
    // Resolves when the step agents and the tracer are up (the probes load before: they only need the helper).
    let ready: Promise<string | undefined> = Promise.resolve(undefined);
    let builds = new Map<ScenarioFile, Promise<Built>>();
    const t0 = Date.now();
    const timings: KernelTimings = { vmMs: 0, helperMs: 0, agentsMs: 0, tracerMs: 0, buildMs: 0, loadMs: 0 };
    const mark = <T>(p: Promise<T>, key: 'helperMs' | 'agentsMs' | 'tracerMs'): Promise<T> => p.finally(() => (timings[key] = Date.now() - t0));
    try {
      if (!vm.running()) progress(`starting the ${kernel} VM`);
      await vm.up((m) => progress(`vm ${kernel}: ${m}`));
      timings.vmMs = Date.now() - t0;
      const remote = vmTarget(vm.paths);
      // Everything starts at once: node in the guest (helper, step agents) is what takes seconds, and the
      // probes build on this machine meanwhile. The tracer shares the helper connection (no second helper).
      const uids = [...new Set(cases.flatMap((c) => c.s.steps.map((st) => uidOf(st.as))))];
      const agentStarting = mark(StepAgent.start(remote, uids), 'agentsMs');
      agentStarting.catch(() => undefined); // awaited below; no unhandled rejection while the helper starts
      const clientStarting = mark(remote.startHelper().then((t) => HelperClient.connect(t, { client: 'bpf-lsm test' })), 'helperMs');
      const hooks = tracedHooks(mine.map((x) => x.f));
      const tracerStarting = hooks.length ? mark(clientStarting.then((c) => StepTracer.start(remote, c, hooks)), 'tracerMs').catch((err: Error) => `the tracer did not load on ${kernel}: ${(err as Error).message}`) : undefined;
      const btf = kernelAssetsAt(vm.paths.kernel, kernel)?.vmlinux;
      builds = new Map(mine.map(({ f }) => [f, (btf ? buildProbes(f, kernel, btf, remote) : Promise.resolve<Built>({ ok: false, message: `the ${kernel} kernel's BTF is missing from the VM cache` })).finally(() => (timings.buildMs = Math.max(timings.buildMs, Date.now() - t0)))]));
      try {
        client = await clientStarting;
      } catch (err) {
        void agentStarting.then((a) => a.close(), () => undefined);
        void tracerStarting?.then((t) => (typeof t === 'string' ? undefined : t.close()));
        throw err;
      }
      ready = (async () => {
        try {
          agent = await agentStarting;
        } catch (err) {
          return `the ${kernel} VM could not be used: ${(err as Error).message}`;
        } finally {
          if (tracerStarting) tracer = await tracerStarting;
        }
        const a = agent;
        // Setup, inode lookups and cleanup go through the agent: no ssh round trip per command.
        // The VM target in all else (kernel, labels, helper), its commands through the agent.
        target = Object.assign(Object.create(remote) as Target, { exec: (p: string, args: readonly string[], o?: Parameters<Target['exec']>[2]) => a.exec(p, args, o) });
        return undefined;
      })();
    } catch (err) {
      setupError = `the ${kernel} VM could not be used: ${(err as Error).message}`;
    }
    try {
      for (const { f, scenarios } of mine) {
        let started = Date.now();
        const built: Built = setupError ? { ok: false, message: setupError } : await builds.get(f)!;
        const loadStart = Date.now();
        let loaded = setupError ? setupError : await loadProbes(client!, kernel, built).catch((err: Error) => `loading the probes on ${kernel} failed: ${err.message}`);
        timings.loadMs += Date.now() - loadStart;
        const notReady = setupError ? undefined : await ready;
        let policy: ScenarioPolicy | undefined;
        const unusable = notReady ?? (typeof loaded === 'string' ? undefined : await usePolicy(f, target!).then((r) => (typeof r === 'string' ? r : ((policy = r), undefined))));
        if (unusable && typeof loaded !== 'string') {
          await unloadProbes(client!, loaded);
          loaded = unusable;
        }
        try {
          for (const s of scenarios) {
            if (opts.signal?.aborted) break;
            let message: string | undefined;
            try {
              message = await runScenario(client!, target!, agent!, tracer, kernel, f, loaded, s, policy);
            } catch (err) {
              message = `${(err as Error).message}`;
            }
            // The first scenario's time includes building and loading the file's probes.
            report({ file: f.path, scenario: s.name, line: s.line, kernel, passed: message === undefined, ...(message !== undefined ? { message } : {}), durationMs: Date.now() - started });
            started = Date.now();
          }
        } finally {
          await policy?.clear(target!, client!).catch((err: Error) => progress(`clearing ${f.policy} on ${kernel} failed: ${err.message} (run "bpf-lsm policy clear --target ${target!.id}")`));
          if (typeof loaded !== 'string') await unloadProbes(client!, loaded);
        }
      }
    } finally {
      await ready.catch(() => undefined);
      await Promise.allSettled(builds.values());
      const t = tracer as StepTracer | string; // assigned inside `ready`
      if (typeof t !== 'string') await t.close();
      await agent?.close();
      await client?.close();
      opts.onTimings?.(kernel, timings);
    }
  }
  return results;
}
