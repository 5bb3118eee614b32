// Scenario files (`*.lsmtest.json`): what `bpf-lsm test` and the Test Explorer run. A file names the probe
// sources to build and load and/or a policy file to enforce (scenarioPolicy.ts), map contents, setup and
// scenarios of steps with expected outcomes; the JSON schema VS Code validates them with is
// schemas/lsmtest.schema.json. This module parses and checks a file
// and remembers where each scenario starts (the Test Explorer shows failures there).
import { isVmKernel, type VmKernel, vmKernels } from '../vm/kernels';

export const SCENARIO_FILE_SUFFIX = '.lsmtest.json';

/** Who runs a step: root, the VM image's unprivileged `user` (uid 1000), or a uid. */
export type RunAs = 'root' | 'user' | number;

/** `allowed` (the LSM let it through), an errno name (EPERM, EACCES, ...) or, for exec, an exit status. */
export type Expectation = 'allowed' | string | { exit: number };

export type MapKeyOrValue = unknown;

export interface MapEntry {
  readonly key: MapKeyOrValue;
  readonly value: MapKeyOrValue;
}

export type SetupStep =
  | { readonly mkdir: string; readonly mode?: string }
  | { readonly write: string; readonly content: string; readonly mode?: string }
  | { readonly copy: string; readonly to: string; readonly mode?: string };

/**
 * A hook call the step must cause, as the tracer decodes it: the hook's name, decoded arguments by dotted
 * path into the event's args (`"bprm.filename"`, `"file.path"`; a string with `*` matches as a glob) and the
 * BPF verdict the hook returned (0 allowed, -1 for -EPERM, ...).
 */
export interface ExpectedEvent {
  readonly hook: string;
  readonly args?: Readonly<Record<string, string | number | boolean | null>>;
  readonly ret?: number;
}

interface StepBase {
  readonly as?: RunAs;
  readonly expect: Expectation;
  readonly events?: readonly ExpectedEvent[];
}

export type Step =
  | (StepBase & { readonly exec: readonly string[] })
  | (StepBase & { readonly open: string; readonly flags?: string })
  | (StepBase & { readonly connect: string })
  | (StepBase & { readonly rename: string; readonly to: string });

export interface Scenario {
  readonly name: string;
  readonly maps?: Readonly<Record<string, readonly MapEntry[]>>;
  readonly setup?: readonly SetupStep[];
  readonly steps: readonly Step[];
  /** 1-based line of the scenario's object in the file. */
  readonly line: number;
}

export interface ScenarioFile {
  readonly path: string;
  readonly probes: readonly string[];
  /** A policy file (bpf-lsm.policy.json: exec deny list, profiles), relative to this file, enforced during its scenarios. */
  readonly policy?: string;
  readonly kernels?: readonly VmKernel[];
  readonly maps: Readonly<Record<string, readonly MapEntry[]>>;
  readonly setup: readonly SetupStep[];
  readonly scenarios: readonly Scenario[];
}

export class ScenarioFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
  }
}

const ERRNO = /^E[A-Z0-9]+$/;
const RUN_AS_HELP = '"root", "user" (uid 1000 in the VM) or a uid number';

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Where each scenario starts: the line of its "name" member, found in order after the "scenarios" key (names
 * are unique, and each is searched after the previous one).
 */
function scenarioLines(text: string, names: readonly string[]): number[] {
  let from = Math.max(0, text.search(/"scenarios"\s*:/));
  return names.map((name) => {
    const m = new RegExp(`"name"\\s*:\\s*${JSON.stringify(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).exec(text.slice(from));
    if (!m) return lineOf(text, from);
    from += m.index + m[0].length;
    return lineOf(text, from);
  });
}

/** A path inside the file, for messages; errors point at the scenario's line when they are inside one. */
type Where = (string | number)[];

const EVENT_HELP = '{ "hook": NAME, "args": { "bprm.filename": "/tmp/x/nc", ... }, "ret": -1 } (args and ret optional)';

function checkEvents(v: unknown, where: string, fail: (message: string) => never): void {
  if (!Array.isArray(v)) fail(`${where}: "events" is a list of ${EVENT_HELP}`);
  (v as unknown[]).forEach((e, i) => {
    const o = e as Record<string, unknown>;
    const what = `${where}, expected event ${i + 1}`;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) fail(`${what}: an object ${EVENT_HELP}`);
    for (const k of Object.keys(o)) if (!['hook', 'args', 'ret'].includes(k)) fail(`${what}: unknown field "${k}" (known: hook, args, ret)`);
    if (typeof o.hook !== 'string' || !/^[a-z0-9_]+$/.test(o.hook)) fail(`${what}: "hook" is an LSM hook name such as "bprm_check_security"`);
    if (o.ret !== undefined && !Number.isInteger(o.ret)) fail(`${what}: "ret" is the hook's return value, an integer such as 0 or -1 (-EPERM)`);
    if (o.args !== undefined) {
      if (typeof o.args !== 'object' || o.args === null || Array.isArray(o.args)) fail(`${what}: "args" maps a dotted argument path (e.g. "file.path") to the value it must have`);
      for (const [k, x] of Object.entries(o.args as object)) {
        if (!/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/.test(k)) fail(`${what}: "${k}" is not a dotted argument path such as "bprm.filename"`);
        if (x !== null && !['string', 'number', 'boolean'].includes(typeof x)) fail(`${what}: argument "${k}" must be a string, number, boolean or null`);
      }
    }
  });
}

/** Parses and checks a scenario file's text; errors name the file and line and say what is expected. */
export function parseScenarioFile(text: string, path: string): ScenarioFile {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    const pos = /position (\d+)/.exec((err as Error).message);
    throw new ScenarioFileError(path, pos ? lineOf(text, Number(pos[1])) : 1, `not valid JSON (${(err as Error).message})`);
  }
  const rawNames = Array.isArray((data as { scenarios?: unknown })?.scenarios) ? ((data as { scenarios: unknown[] }).scenarios.map((s) => (s as { name?: unknown })?.name).map((n) => (typeof n === 'string' ? n : ''))) : [];
  const lines = scenarioLines(text, rawNames);
  const fail = (where: Where | undefined, message: string): never => {
    const line = where && where[0] === 'scenarios' && typeof where[1] === 'number' ? lines[where[1]] ?? 1 : 1;
    throw new ScenarioFileError(path, line, message);
  };
  const root: Where = [];
  if (typeof data !== 'object' || data === null || Array.isArray(data)) fail(root, 'a scenario file is a JSON object with "probes" and/or "policy", and "scenarios"');
  const at = (...p: Where): Where => p;
  const known = new Set(['$schema', 'probes', 'policy', 'kernels', 'maps', 'setup', 'scenarios', 'description']);
  for (const k of Object.keys(data)) if (!known.has(k)) fail(at(k), `unknown field "${k}" (known: ${[...known].join(', ')})`);

  const policy = data.policy;
  if (policy !== undefined && (typeof policy !== 'string' || !policy.endsWith('.json'))) fail(at('policy'), '"policy" is a policy file (a bpf-lsm.policy.json with "deny" and/or "profiles", relative to this file) to enforce during the scenarios');
  const probes = data.probes ?? (policy !== undefined ? [] : undefined);
  if (!Array.isArray(probes) || (probes.length === 0 && policy === undefined) || !probes.every((p) => typeof p === 'string' && p.endsWith('.c'))) fail(at('probes') ?? root, '"probes" lists the probe sources (*.bpf.c, relative to this file) to build and load (or give a "policy" file to enforce)');
  let kernels: VmKernel[] | undefined;
  if (data.kernels !== undefined) {
    if (!Array.isArray(data.kernels) || !data.kernels.every((k) => typeof k === 'string' && isVmKernel(k))) fail(at('kernels'), `"kernels" lists VM kernels: ${vmKernels().join(', ')}`);
    kernels = data.kernels as VmKernel[];
  }
  const checkMaps = (v: unknown, p: (string | number)[]) => {
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(at(...p), '"maps" is an object: map name -> list of { "key": ..., "value": ... }');
    for (const [name, entries] of Object.entries(v as object)) {
      if (!Array.isArray(entries)) fail(at(...p, name), `map "${name}": a list of { "key": ..., "value": ... }`);
      (entries as unknown[]).forEach((e, i) => {
        if (typeof e !== 'object' || e === null || !('key' in e) || !('value' in e)) fail(at(...p, name, i), `map "${name}" entry ${i + 1}: needs "key" and "value"`);
      });
    }
    return v as Record<string, MapEntry[]>;
  };
  const checkSetup = (v: unknown, p: (string | number)[]): SetupStep[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) fail(at(...p), '"setup" is a list of { "mkdir" }, { "write", "content" } or { "copy", "to" } steps');
    (v as unknown[]).forEach((s, i) => {
      const o = s as Record<string, unknown>;
      const ok =
        typeof o === 'object' && o !== null &&
        ((typeof o.mkdir === 'string') || (typeof o.write === 'string' && typeof o.content === 'string') || (typeof o.copy === 'string' && typeof o.to === 'string')) &&
        (o.mode === undefined || (typeof o.mode === 'string' && /^[0-7]{3,4}$/.test(o.mode)));
      if (!ok) fail(at(...p, i), `setup step ${i + 1}: use { "mkdir": DIR }, { "write": FILE, "content": TEXT } or { "copy": FROM, "to": TO }, with an optional octal "mode" such as "0755"`);
      for (const f of ['mkdir', 'write', 'copy', 'to'] as const) if (typeof o[f] === 'string' && !(o[f] as string).startsWith('/')) fail(at(...p, i, f), `setup step ${i + 1}: "${f}" must be an absolute path on the target`);
    });
    return v as SetupStep[];
  };
  const checkStep = (s: unknown, p: (string | number)[], n: number): Step => {
    const o = s as Record<string, unknown>;
    const where = `step ${n}`;
    if (typeof o !== 'object' || o === null) fail(at(...p), `${where}: an object with exec, open, connect or rename`);
    const kinds = ['exec', 'open', 'connect', 'rename'].filter((k) => k in o);
    if (kinds.length !== 1) fail(at(...p), `${where}: exactly one of exec, open, connect, rename`);
    if ('exec' in o && (!Array.isArray(o.exec) || o.exec.length === 0 || !o.exec.every((a) => typeof a === 'string') || !(o.exec[0] as string).startsWith('/'))) fail(at(...p, 'exec'), `${where}: "exec" is the argv, starting with an absolute program path`);
    if ('open' in o && (typeof o.open !== 'string' || !o.open.startsWith('/'))) fail(at(...p, 'open'), `${where}: "open" is an absolute path`);
    if ('flags' in o && (typeof o.flags !== 'string' || !/^O_[A-Z]+(\s*\|\s*O_[A-Z]+)*$/.test(o.flags))) fail(at(...p, 'flags'), `${where}: "flags" are open flags such as "O_RDONLY" or "O_WRONLY|O_CREAT"`);
    if ('connect' in o && (typeof o.connect !== 'string' || !/^[0-9.]+:\d+$/.test(o.connect))) fail(at(...p, 'connect'), `${where}: "connect" is an IPv4 address and port, e.g. "127.0.0.1:22"`);
    if ('rename' in o && (typeof o.rename !== 'string' || typeof o.to !== 'string' || !o.rename.startsWith('/') || !o.to.startsWith('/'))) fail(at(...p, 'rename'), `${where}: "rename" and "to" are absolute paths`);
    if (o.as !== undefined && o.as !== 'root' && o.as !== 'user' && !(typeof o.as === 'number' && Number.isInteger(o.as) && o.as >= 0)) fail(at(...p, 'as'), `${where}: "as" is ${RUN_AS_HELP}`);
    const e = o.expect;
    const expectOk = e === 'allowed' || (typeof e === 'string' && ERRNO.test(e)) || (typeof e === 'object' && e !== null && Number.isInteger((e as { exit?: unknown }).exit) && 'exec' in o);
    if (!expectOk) fail(at(...p, 'expect') ?? at(...p), `${where}: "expect" is "allowed", an errno name such as "EPERM" or "EACCES", or (exec only) { "exit": N }`);
    if (o.events !== undefined) checkEvents(o.events, where, (msg) => fail(at(...p, 'events'), msg));
    return o as unknown as Step;
  };

  const maps = checkMaps(data.maps, ['maps']);
  const setup = checkSetup(data.setup, ['setup']);
  if (!Array.isArray(data.scenarios) || data.scenarios.length === 0) fail(at('scenarios') ?? root, '"scenarios" lists at least one { "name", "steps" }');
  const names = new Set<string>();
  const scenarios = (data.scenarios as unknown[]).map((s, i): Scenario => {
    const node = at('scenarios', i);
    const o = s as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.name !== 'string' || !o.name.trim()) fail(node, `scenario ${i + 1}: needs a "name"`);
    if (names.has(o.name as string)) fail(node, `two scenarios are named "${o.name}"; names identify test cases and must differ`);
    names.add(o.name as string);
    for (const k of Object.keys(o)) if (!['name', 'maps', 'setup', 'steps', 'description'].includes(k)) fail(at('scenarios', i, k), `scenario "${o.name}": unknown field "${k}"`);
    if (!Array.isArray(o.steps) || o.steps.length === 0) fail(at('scenarios', i, 'steps') ?? node, `scenario "${o.name}": "steps" lists at least one step`);
    return {
      name: o.name as string,
      maps: checkMaps(o.maps, ['scenarios', i, 'maps']),
      setup: checkSetup(o.setup, ['scenarios', i, 'setup']),
      steps: (o.steps as unknown[]).map((st, j) => checkStep(st, ['scenarios', i, 'steps', j], j + 1)),
      line: lines[i] ?? 1,
    };
  });
  return { path, probes: probes as string[], ...(typeof policy === 'string' ? { policy } : {}), ...(kernels ? { kernels } : {}), maps, setup, scenarios };
}
