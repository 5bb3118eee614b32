// The resident tracer's requests (tracerAcquire, tracerStatus, tracerRelease): what the session answers
// with residentTracer.ts. The session owns the object a session gets (its id, its request queue, its close
// at teardown, which first gives the trace slot back).
import type { BpfObject, NativeBinding } from '../../native/index';
import type { HelperErrorCode, JsonValue, ParamsOf, ResultOf } from '../shared/helperProtocol';
import { gunzipSync } from 'node:zlib';
import { kernelSymbolGlobals, SYMBOL_GLOBALS } from './kernelSymbols';
import { acquireResident, releaseResident, residentStatus, TracerNeedsObject } from './residentTracer';
import { TRACED_MAP } from '../shared/tracer/control';
import { attachAhead, withLinksAttached } from './tracerKeeper';

export interface TracerHandlerDeps {
  native(): NativeBinding;
  /** Opens the object in the disposable check process first; rejects with the helper error to send. */
  check(object: Buffer): Promise<void>;
  fail(code: HelperErrorCode, message: string, extra?: { data?: { [k: string]: JsonValue } }): Error;
  /** The helper error for a rejected load (verifier log attached). */
  loadFailure(err: unknown): Error;
  /**
   * Sets the tracer's globals before load, each coded by its type in the object's BTF: every one of `values`
   * (an undeclared name is an error), and those of `ifDeclared` that the object declares.
   */
  setGlobals(bpf: BpfObject, values: { [name: string]: JsonValue }, ifDeclared?: { [name: string]: JsonValue }): void;
  /** Takes the object into the session; returns its objectId. */
  own(bpf: BpfObject, hooks: { release: () => void; update: (map: string, write: () => void) => Promise<void> }): number;
}

type Answer<M extends 'tracerAcquire' | 'tracerStatus' | 'tracerRelease'> = (params: ParamsOf<M>, ctx: { blob?: Buffer }) => Promise<{ result: ResultOf<M> }>;

/** The largest tracer object a gzipped blob may inflate to (the blob limit of an object sent as is). */
const MAX_INFLATED = 64 << 20;

function inflate(blob: Buffer, deps: TracerHandlerDeps): Buffer {
  try {
    return gunzipSync(blob, { maxOutputLength: MAX_INFLATED });
  } catch (err) {
    throw deps.fail('invalid-params', `the tracer object did not inflate (objectEncoding gzip): ${(err as Error).message}`);
  }
}

export function tracerHandlers(deps: TracerHandlerDeps): { tracerAcquire: Answer<'tracerAcquire'>; tracerStatus: Answer<'tracerStatus'>; tracerRelease: Answer<'tracerRelease'> } {
  return {
    tracerAcquire: async (params, { blob }) => {
      const inflating = Date.now();
      const object = blob && params.objectEncoding === 'gzip' ? inflate(blob, deps) : blob;
      const inflateMs = Date.now() - inflating;
      // A resident tracer whose keeper detached programs while nothing was traced: attach them again while this
      // session is set up (a trace's filter update waits for them).
      attachAhead(() => deps.native(), params.key);
      // Only a load sets globals; the read of kallsyms began at the hello, so this rarely waits.
      const symbolsFrom = Date.now();
      const symbols = object ? await kernelSymbolGlobals() : {};
      const symbolsMs = Date.now() - symbolsFrom;
      let acquired;
      try {
        acquired = await acquireResident(
          deps.native(),
          {
            key: params.key,
            object,
            mapsObject: params.mapsObject === undefined ? undefined : Buffer.from(params.mapsObject, 'base64'),
            programs: params.programs,
            idleMs: params.idleMs,
            hooksIdleMs: params.hooksIdleMs,
            // The kernel's addresses come from the helper, whatever the client sent for them, and only into a
            // tracer that has them (one built before the path cache loads as it did).
            setup: (bpf) => deps.setGlobals(bpf, Object.fromEntries(Object.entries(params.globals ?? {}).filter(([name]) => !SYMBOL_GLOBALS.includes(name))), symbols),
          },
          deps.check,
        );
      } catch (err) {
        if (err instanceof TracerNeedsObject) throw deps.fail('not-found', err.message, { data: { needObject: true } });
        if ((err as { log?: unknown })?.log !== undefined) throw deps.loadFailure(err);
        throw err;
      }
      const { meta } = acquired;
      const attaching = Date.now();
      try {
        if (params.attachIdle) await withLinksAttached(deps.native(), params.key, () => undefined);
      } catch (err) {
        // The session does not own it yet: give its slot back and close it here.
        acquired.release();
        void acquired.bpf.close();
        throw err;
      }
      const attachIdleMs = Date.now() - attaching;
      const owning = Date.now();
      const objectId = deps.own(acquired.bpf, {
        release: () => acquired.release(),
        update: async (map, write) => {
          if (map === TRACED_MAP) await withLinksAttached(deps.native(), params.key, write);
          else write();
          acquired.used();
        },
      });
      const phases = [...(object !== blob ? [{ phase: 'inflate', ms: inflateMs }] : []), ...(object ? [{ phase: 'symbols', ms: symbolsMs }] : []), ...acquired.phases, ...(params.attachIdle ? [{ phase: 'attach idle', ms: attachIdleMs }] : []), { phase: 'own', ms: Date.now() - owning }];
      return {
        result: { objectId, slot: acquired.slot, reused: acquired.reused, attached: meta.attached, refused: meta.refused, loadMs: acquired.loadMs, attachMs: acquired.attachMs, phases },
      };
    },
    tracerStatus: async () => ({ result: { tracers: residentStatus() } }),
    tracerRelease: async (params) => ({ result: { released: await releaseResident(params.key) } }),
  };
}
