// Load Probe: sends a built object to the helper, which loads and attaches it. A verifier rejection comes
// back as a diagnostic on the offending source line (with the whole log for the output channel); programs
// whose section names a hook the target kernel does not have are reported before the load is even tried.
import { readFileSync } from 'node:fs';
import { HelperRequestError, type HelperClient } from '../helperClient';
import type { AttachResult, LoadedObjectInfo } from '../../shared/helperProtocol';
import type { HookCatalog } from '../../shared/hooks/catalog';
import { programSections } from '../verifier/lineInfo';
import { diagnoseRejection, type VerifierDiagnostic } from '../verifier/diagnose';

export interface SectionWarning {
  readonly line: number;
  readonly section: string;
  readonly hook: string;
  readonly message: string;
}

const SEC = /SEC\(\s*"(lsm(?:\.s)?)\/([A-Za-z0-9_]+)"\s*\)/g;

/** SEC("lsm/<hook>") lines naming hooks the target kernel lacks (or has but cannot attach to). */
export function checkSections(sourceText: string, catalog: HookCatalog): SectionWarning[] {
  const out: SectionWarning[] = [];
  const lines = sourceText.split('\n');
  lines.forEach((text, i) => {
    for (const m of text.matchAll(SEC)) {
      const hook = m[2];
      const section = `${m[1]}/${hook}`;
      const h = catalog.get(hook);
      if (!h) {
        out.push({ line: i + 1, section, hook, message: `the target kernel (${catalog.kernelLabel}) has no LSM hook "${hook}": loading will fail; pick a hook from completion inside SEC("lsm/...")` });
      } else if (h.disabled) {
        out.push({ line: i + 1, section, hook, message: `the target kernel (${catalog.kernelLabel}) refuses BPF programs on "${hook}" (disabled hook): attaching will fail` });
      } else if (m[1] === 'lsm.s' && !h.sleepable) {
        out.push({ line: i + 1, section, hook, message: `"${hook}" is not sleepable on ${catalog.kernelLabel}: use SEC("lsm/${hook}"), not lsm.s` });
      }
    }
  });
  return out;
}

export type ProbeLoad =
  | { ok: true; object: LoadedObjectInfo; attach: AttachResult[]; logs: Record<string, string> }
  | { ok: false; rejected: true; diagnostic: VerifierDiagnostic | undefined; log: string; program: string | null; message: string }
  | { ok: false; rejected: false; message: string; remedy?: string };

export interface LoadProbeOptions {
  readonly name: string;
  readonly attach?: boolean;
}

/** Loads (and by default attaches) an object; a verifier rejection is resolved, not thrown. */
export async function loadProbe(client: HelperClient, objectPathOrBytes: string | Buffer, opts: LoadProbeOptions): Promise<ProbeLoad> {
  const bytes = typeof objectPathOrBytes === 'string' ? readFileSync(objectPathOrBytes) : objectPathOrBytes;
  let loaded;
  try {
    loaded = await client.loadObject(bytes, { name: opts.name, logLevel: 0 });
  } catch (err) {
    if (err instanceof HelperRequestError && err.code === 'load-failed') {
      const log = typeof err.data?.log === 'string' ? err.data.log : '';
      const program = typeof err.data?.program === 'string' ? err.data.program : null;
      const section = program ? programSections(bytes).get(program) : undefined;
      return { ok: false, rejected: true, diagnostic: log ? diagnoseRejection(log, bytes, section, program ?? undefined) : undefined, log, program, message: err.message };
    }
    if (err instanceof HelperRequestError) return { ok: false, rejected: false, message: err.message, ...(err.remedy ? { remedy: err.remedy } : {}) };
    throw err;
  }
  const attach = opts.attach === false ? [] : (await client.call('attach', { objectId: loaded.objectId })).results;
  const { logs, logTruncated: _t, ...object } = loaded;
  return { ok: true, object, attach, logs };
}

