// What a trace needs from the generator and the compiler, kept per target kernel and hook selection: the
// resident tracer's key, its program list, the hooks not traced and the decoder tables, next to the compiled
// objects. With the tracer resident on the target, a trace then starts without reading the kernel's BTF
// (4-5 MB), building its hook catalog, generating the tracer and hashing it for the compile cache: about
// half a second of the CLI's own time on each run, which a warm trace cannot afford.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GENERATOR_VERSION, SkippedHook } from '../../shared/tracer/generate';
import type { DecoderTables } from '../../shared/tracer/tables';
import { writeFileAtomic } from '../../shared/atomicWrite';

export interface TracerPlan {
  readonly generator: string;
  /** The kernel's label (catalog.kernelLabel) and its number of hooks. */
  readonly kernel: string;
  readonly hookCount: number;
  /** compiled.cacheKey: the compiled tracer's digest, which names the resident tracer. */
  readonly objectKey: string;
  readonly objectPath: string;
  readonly mapsPath: string;
  /** Hook programs first (with their hooks), then the fixed programs. */
  readonly hooks: ReadonlyArray<{ readonly program: string; readonly name: string }>;
  readonly fixedPrograms: readonly string[];
  readonly skipped: readonly SkippedHook[];
  readonly tables: DecoderTables;
}

export interface PlanSelection {
  readonly categories?: readonly string[];
  readonly hooks?: readonly string[];
  readonly attach?: 'entry' | 'fexit';
}

let bundle: string | undefined;
function bundleDigest(): string {
  try {
    bundle ??= createHash('sha256').update(readFileSync(__filename)).digest('hex');
  } catch {
    bundle ??= String(Date.now());
  }
  return bundle;
}

/** The plan file of a BTF (cached under its digest), a kernel banner, a selection and these headers. */
export function planFile(cacheDir: string, btfPath: string, banner: string | undefined, selection: PlanSelection, headersDir: string): string {
  // The running bundle too: the generator's code is in it, and a changed generator must not reuse a plan.
  const h = createHash('sha256').update(GENERATOR_VERSION).update(bundleDigest()).update(basename(btfPath)).update(banner ?? '');
  h.update(JSON.stringify([[...(selection.categories ?? [])].sort(), [...(selection.hooks ?? [])].sort(), ...(selection.attach === 'fexit' ? ['fexit'] : [])]));
  for (const f of readdirSync(headersDir).sort()) h.update(f).update(readFileSync(join(headersDir, f)));
  return join(cacheDir, `plan-${h.digest('hex').slice(0, 24)}.json`);
}

/** The plan, when it is there, whole, of this generator, and its objects are still in the cache. */
export function readPlan(file: string): TracerPlan | undefined {
  try {
    const plan = JSON.parse(readFileSync(file, 'utf8')) as TracerPlan;
    if (plan.generator !== GENERATOR_VERSION || !existsSync(plan.objectPath) || !existsSync(plan.mapsPath)) return undefined;
    return plan;
  } catch {
    return undefined;
  }
}

export function writePlan(file: string, plan: TracerPlan): void {
  writeFileAtomic(file, JSON.stringify(plan));
}
