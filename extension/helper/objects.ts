// The BPF objects a helper session owns, and the requests that create, attach, pin and close them
// (loadObject, attach, detach, pinLink, unpinLinks, unloadObject). Every object is closed when the session ends
// (ObjectTable.closeAll); only links the user pinned explicitly survive.
import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { BpfObject, NativeBinding, NativeError } from '../../native/index';
import { Btf, BtfError } from '../shared/btf/btf';
import { objectGlobals } from '../shared/btf/describe';
import { POLICY_PIN_DIR, type AttachResult, type BtfTypeDesc, type Capabilities, type GlobalInfo, type JsonValue, type LoadedObjectInfo } from '../shared/helperProtocol';
import { encodeValue } from '../shared/helperValues';
import type { ObjectChecker } from './objectCheck';
import { HelperError, type Handlers } from './request';

export interface OwnedObject {
  id: number;
  name: string;
  bpf: BpfObject;
  /** The object's BTF, parsed once: globals and map types are described from it. */
  btf: Btf | undefined;
  globals: GlobalInfo[];
  mapTypes: Map<string, { key: BtfTypeDesc | null; value: BtfTypeDesc | null }>;
  /** Operations on one object run one after another (the addon refuses concurrent use). */
  queue: Promise<unknown>;
  /** Runs before the object closes: a resident tracer's session gives its trace slot back. */
  release?: () => void;
  /**
   * Runs each map update (`write`) in its place: a resident tracer attaches its syscall programs before a
   * process enters its filter, and counts its idle time from the last trace started.
   */
  update?: (map: string, write: () => void) => Promise<void>;
}

const KERNEL_REFUSALS = new Set(['EPERM', 'EACCES', 'EOPNOTSUPP', 'ENOTSUPP']);
const ERRNO_NOT_SUPP = 524; // ENOTSUPP: kernel-internal, returned by BPF for unsupported attach types
/**
 * Programs in one object. The tracer has ~240; attach/detach name at most 4096 programs per request, and
 * every program costs a verifier run as root, so an object with more is refused before its load.
 */
const MAX_PROGRAMS = 4096;
/** libbpf's own error codes (LIBBPF_ERRNO__*), which strerror() renders as "Unknown error 40xx". */
const LIBBPF_ERRORS: Record<string, string> = {
  '4000': 'libelf could not read it',
  '4001': 'not a valid BPF ELF object',
  '4002': 'kernel version section missing',
  '4003': 'byte order does not match this machine',
  '4004': 'libbpf internal error',
  '4005': 'relocation failed',
  '4006': 'load failed',
};

/** The addon's open error with libbpf's numeric codes spelled out. */
export function openFailure(err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  return message.replace(/Unknown error (40\d\d)/g, (all, code: string) => (LIBBPF_ERRORS[code] ? `${LIBBPF_ERRORS[code]} (libbpf error ${code})` : all));
}

export class ObjectTable {
  private readonly objects = new Map<number, OwnedObject>();
  private nextObjectId = 1;

  get(id: number): OwnedObject {
    const o = this.objects.get(id);
    if (!o) throw new HelperError('not-found', `no object ${id} is loaded by this helper (list shows what is)`);
    return o;
  }

  /** The object, or undefined once it is unloaded (trace statistics outlive their object). */
  find(id: number): OwnedObject | undefined {
    return this.objects.get(id);
  }

  add(name: string, bpf: BpfObject, btf: Btf | undefined, globals: GlobalInfo[], hooks: Pick<OwnedObject, 'release' | 'update'> = {}): OwnedObject {
    const o: OwnedObject = { id: this.nextObjectId++, name, bpf, btf, globals, mapTypes: new Map(), queue: Promise.resolve(), ...hooks };
    this.objects.set(o.id, o);
    return o;
  }

  remove(o: OwnedObject): void {
    this.objects.delete(o.id);
  }

  /** The addon's program and map listings go on the wire as ProgramInfo and MapInfo, field for field. */
  describe(o: OwnedObject): LoadedObjectInfo {
    return { objectId: o.id, name: o.name, programs: o.bpf.programs(), maps: o.bpf.maps().map(({ btfKeyTypeId: _k, btfValueTypeId: _v, ...m }) => m), globals: o.globals };
  }

  list(): LoadedObjectInfo[] {
    return [...this.objects.values()].map((o) => this.describe(o));
  }

  /** Closes every object once its queued operations are done; returns how many there were. */
  async closeAll(log: (line: string) => void): Promise<number> {
    const objects = [...this.objects.values()];
    this.objects.clear();
    const closed = await Promise.allSettled(objects.map((o) => o.queue.then(() => closeObject(o))));
    closed.forEach((r, i) => {
      if (r.status === 'rejected') log(`closing ${objects[i].name} failed: ${(r.reason as Error)?.message}`);
    });
    return objects.length;
  }
}

/** Closes an object, giving back what it holds first (a resident tracer's trace slot). */
function closeObject(o: OwnedObject): Promise<void> {
  o.release?.();
  return o.bpf.close();
}

/** Runs fn after every operation queued on the object before it. */
export function serial<T>(o: OwnedObject, fn: () => Promise<T> | T): Promise<T> {
  const run = o.queue.then(fn, fn);
  o.queue = run.catch(() => undefined);
  return run;
}

export interface ObjectContext {
  objects: ObjectTable;
  requireNative(): NativeBinding;
  /** The target's capabilities as last probed (probed now when they never were). */
  capabilities(): Capabilities;
  objectChecker?: Pick<ObjectChecker, 'check'>;
  /** Stops the object's trace sessions before it is closed. */
  stopTracesOf(objectId: number): Promise<void>;
}

export function objectHandlers(ctx: ObjectContext): Handlers<'loadObject' | 'attach' | 'detach' | 'pinLink' | 'unpinLinks' | 'unloadObject'> {
  const { objects } = ctx;
  return {
    loadObject: async (params, { blob, signal }) => {
      const native = ctx.requireNative();
      let bpf: BpfObject;
      try {
        await ctx.objectChecker?.check(blob as Buffer);
        bpf = native.BpfObject.openBuffer(blob as Buffer, params.name);
      } catch (err) {
        throw new HelperError('invalid-params', `${params.name} is not a usable BPF object: ${openFailure(err)}`, {
          remedy: 'build it with clang -g -O2 -target bpf (the object needs BTF)',
        });
      }
      let owned = false;
      try {
        const programCount = bpf.programs().length;
        if (programCount > MAX_PROGRAMS) {
          throw new HelperError('too-large', `${params.name} has ${programCount} programs; the helper loads at most ${MAX_PROGRAMS} from one object`, {
            remedy: 'split the programs over several objects',
          });
        }
        const { btf, globals } = describeObject(bpf, params.name);
        if (params.programs) {
          const wanted = new Set(params.programs);
          const known = bpf.programs().map((p) => p.name);
          const unknown = params.programs.filter((p) => !known.includes(p));
          if (unknown.length) throw new HelperError('not-found', `${params.name} has no program(s) ${unknown.join(', ')}`);
          for (const p of known) bpf.setAutoload(p, wanted.has(p));
        }
        setGlobals(bpf, globals, params.globals ?? {}, (name) => `${params.name} has no global "${name}" (globals: ${globals.map((x) => x.name).join(', ') || 'none'})`);
        let loaded;
        try {
          loaded = await bpf.load(params.logLevel ?? 0, params.logSize ?? 1 << 20);
        } catch (err) {
          throw loadFailure(err, params.name, ctx.capabilities());
        }
        // A load cannot be interrupted; if the client gave up meanwhile, nobody will ever know this
        // object's id, so it is closed here rather than kept until the session ends.
        if (signal.aborted) throw new HelperError('cancelled', `loading ${params.name} was cancelled`);
        const o = objects.add(params.name, bpf, btf, globals);
        owned = true;
        return { result: { ...objects.describe(o), logs: loaded.logs, logTruncated: loaded.truncated } };
      } finally {
        if (!owned) await bpf.close();
      }
    },

    attach: async (params, { signal }) => {
      const o = objects.get(params.objectId);
      const names = params.programs ?? o.bpf.programs().filter((p) => p.loaded && !p.attached).map((p) => p.name);
      return { result: { results: await attachChunked(o, names, signal, false) } };
    },

    detach: async (params, { signal }) => {
      const o = objects.get(params.objectId);
      const names = params.programs ?? o.bpf.programs().filter((p) => p.attached).map((p) => p.name);
      return { result: { results: await attachChunked(o, names, signal, true) } };
    },

    pinLink: async (params) => {
      const o = objects.get(params.objectId);
      let parent: string;
      try {
        parent = realpathSync(dirname(params.path));
      } catch {
        throw new HelperError('not-found', `the folder of ${params.path} does not exist`, { remedy: 'create it under /sys/fs/bpf first' });
      }
      if (parent !== '/sys/fs/bpf' && !parent.startsWith('/sys/fs/bpf/')) {
        throw new HelperError('invalid-params', `links can only be pinned under /sys/fs/bpf (got ${params.path})`);
      }
      // Pin at the path that was checked: the given one may lead through a symlink the client can point
      // elsewhere between the check and the pin.
      const checked = join(parent, basename(params.path));
      await serial(o, () => o.bpf.pinLink(params.program, checked));
      return { result: {} };
    },

    unpinLinks: async (params) => {
      const checked = params.paths.map((path) => {
        let parent: string;
        try {
          parent = realpathSync(dirname(path));
        } catch {
          return undefined; // no folder, nothing pinned in it
        }
        if (parent !== POLICY_PIN_DIR) throw new HelperError('invalid-params', `the helper only removes links pinned in ${POLICY_PIN_DIR} (got ${path})`);
        return join(parent, basename(path));
      });
      const removed = await ctx.requireNative().detachPinnedLinks(checked.filter((p): p is string => p !== undefined));
      return { result: { removed } };
    },

    unloadObject: async (params) => {
      const o = objects.get(params.objectId);
      await ctx.stopTracesOf(o.id);
      objects.remove(o);
      await serial(o, () => closeObject(o));
      return { result: {} };
    },
  };
}

/** Sets globals before load, each coded by its BTF type; `missing` says what to tell about an unknown name. */
export function setGlobals(bpf: BpfObject, globals: readonly GlobalInfo[], values: { [name: string]: JsonValue }, missing: (name: string) => string): void {
  for (const [name, value] of Object.entries(values)) {
    const g = globals.find((x) => x.name === name);
    if (!g) throw new HelperError('not-found', missing(name));
    bpf.setGlobal(name, encodeValue(g.type, value, `globals.${name}`));
  }
}

/** The object's BTF and globals, or no BTF and no globals when it was built without; BTF the parser refuses fails the request. */
export function describeObject(bpf: BpfObject, name: string): { btf: Btf | undefined; globals: GlobalInfo[] } {
  try {
    const btf = objectBtf(bpf, name);
    return { btf, globals: btf ? objectGlobals(btf, bpf.maps()) : [] };
  } catch (err) {
    if (!(err instanceof BtfError)) throw err;
    throw new HelperError('invalid-params', `${name} has BTF the helper cannot read: ${err.message}`, {
      remedy: 'rebuild it with clang -g -O2 -target bpf',
    });
  }
}

/** The object's BTF, or undefined when it was built without (then it has no globals or typed maps). */
function objectBtf(bpf: BpfObject, name: string): Btf | undefined {
  let raw: Buffer;
  try {
    raw = bpf.btf();
  } catch (err) {
    if ((err as NativeError).code === 'ENOENT') return undefined;
    throw err;
  }
  return new Btf(raw, `the BTF of ${name}`);
}

export function loadFailure(err: unknown, name: string, caps: Capabilities): HelperError {
  const e = err as { message?: string; code?: string; errno?: number; log?: string; program?: string | null; truncated?: boolean };
  const data = { log: e.log ?? '', program: e.program ?? null, truncated: e.truncated ?? false };
  // The verifier also answers EACCES/EINVAL, but always with a log; a refusal without a log is the kernel
  // (or an LSM, or lockdown) saying no to BPF-LSM as a whole.
  if (!data.log && (KERNEL_REFUSALS.has(e.code ?? '') || e.errno === ERRNO_NOT_SUPP)) {
    const missing = [caps.bpfLsmActive, caps.configBpfLsm, caps.btf, caps.root].filter((c) => !c.ok);
    const remedy = missing.length
      ? missing.map((c) => c.remedy).join('; ')
      : 'the kernel refused BPF programs although BPF-LSM looks enabled: check kernel lockdown (/sys/kernel/security/lockdown) and that the helper runs as real root (not in a restricted container)';
    return new HelperError('kernel-refused', `the kernel of ${caps.kernelRelease} refused to load ${name}: ${e.message ?? e.code}`, { remedy, errno: e.code ?? 'EPERM', data });
  }
  return new HelperError('load-failed', e.message ?? `loading ${name} failed`, {
    remedy: data.program ? `the verifier rejected program ${data.program}; its log is attached` : 'see the libbpf messages above',
    ...(e.code ? { errno: e.code } : {}),
    data,
  });
}

async function attachChunked(o: OwnedObject, names: string[], signal: AbortSignal, detach: boolean): Promise<AttachResult[]> {
  // Chunks keep cancellation responsive on large attach lists (~230 LSM programs for the tracer).
  const results: AttachResult[] = [];
  for (let i = 0; i < names.length; i += 32) {
    if (signal.aborted && !detach) {
      for (const n of names.slice(i)) results.push({ program: n, ok: false, code: 'ECANCELED', message: 'not attached: the request was cancelled' });
      break;
    }
    const chunk = names.slice(i, i + 32);
    const r = await serial(o, () => (detach ? o.bpf.detach(chunk) : o.bpf.attach(chunk)));
    results.push(...r.map(({ errno: _errno, ...rest }) => rest));
  }
  return results;
}
