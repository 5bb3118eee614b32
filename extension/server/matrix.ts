// Matrix diagnostics: a workspace may target several kernels (the bpfLsm.kernelMatrix setting: built-in VM
// kernels, BTF files, ssh targets; the client resolves each to a BTF file). Besides the diagnostics for the
// kernel the server answers for, every SEC("lsm/<hook>") is checked against each kernel of the matrix, and a
// hook that is missing there, disabled for BPF there, or has another signature there is flagged, naming that
// kernel:
//   matrix-missing-hook    the hook does not exist on a matrix kernel
//   matrix-disabled-hook   the kernel refuses BPF programs on the hook
//   matrix-signature       the hook's arguments or return type differ from the primary kernel's
// Catalogs are loaded once per matrix entry and kept until the settings change.
import { Diagnostic, DiagnosticSeverity, Range } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { catalogFromFile, type Hook, HookCatalog, hookSignature } from '../shared/hooks/catalog';
import type { MatrixKernel } from '../shared/hooks/serverSettings';
import { ProbeDocument } from './probeDocument';
import { SOURCE } from './diagnostics';

export class MatrixSession {
  private entries: readonly MatrixKernel[] = [];
  private readonly catalogs = new Map<string, HookCatalog | string>();

  constructor(private readonly log: (message: string) => void) {}

  /** Returns whether the matrix changed. */
  configure(entries: readonly MatrixKernel[] | undefined): boolean {
    const next = entries ?? [];
    if (JSON.stringify(next) === JSON.stringify(this.entries)) return false;
    this.entries = next;
    this.catalogs.clear();
    return true;
  }

  /** Each matrix kernel with its catalog (loaded on first use), or the reason it could not be read. */
  kernels(): Array<{ label: string; catalog: HookCatalog | string }> {
    return this.entries.map((e) => {
      let c = this.catalogs.get(e.label);
      if (!c) {
        try {
          c = catalogFromFile(e.btfPath, { kernel: e.kernelVersion });
          this.log(`kernel matrix: ${e.label}: ${c.hooks.length} hooks from ${e.btfPath}`);
        } catch (err) {
          c = `cannot read the BTF of ${e.label} (${e.btfPath}): ${err instanceof Error ? err.message : String(err)}`;
          this.log(`kernel matrix: ${c}`);
        }
        this.catalogs.set(e.label, c);
      }
      return { label: e.label, catalog: c };
    });
  }
}

/**
 * A hook's return and argument types without `const` (added on many hooks between 6.1 and 6.12, which changes
 * nothing for a program that reads them) or names: what a BPF_PROG's argument list depends on.
 */
export function typeShape(h: Hook): string {
  const t = (s: string) => s.replace(/\bconst\b/g, '').replace(/\s+/g, ' ').trim();
  return `${t(h.returns)}(${h.params.map((p) => t(p.type)).join(', ')})`;
}

/** Diagnostics for the hooks of `probe` on each matrix kernel; `primary` is the kernel the server answers for. */
export function matrixDiagnostics(matrix: ReturnType<MatrixSession['kernels']>, primary: HookCatalog | undefined, doc: TextDocument, probe: ProbeDocument): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const s of probe.secs) {
    if (!s.hook) continue;
    const range = Range.create(doc.positionAt(s.hookStart), doc.positionAt(Math.max(s.hookEnd, s.hookStart + 1)));
    const push = (severity: DiagnosticSeverity, code: string, message: string) => out.push({ range, severity, code, source: SOURCE, message });
    const here = primary?.get(s.hook);
    for (const { label, catalog } of matrix) {
      if (typeof catalog === 'string') continue;
      const h = catalog.get(s.hook);
      if (!h) {
        push(DiagnosticSeverity.Error, 'matrix-missing-hook', `${s.hook} does not exist on ${label} (kernel matrix): a probe with it fails to load there.`);
      } else if (h.disabled) {
        push(DiagnosticSeverity.Error, 'matrix-disabled-hook', `${s.hook} is disabled for BPF on ${label} (kernel matrix): loading fails there with "points to disabled hook". Source: ${h.disabledSource}.`);
      } else if (here && typeShape(h) !== typeShape(here)) {
        push(DiagnosticSeverity.Warning, 'matrix-signature', `${s.hook} is typed differently on ${label} (kernel matrix): ${hookSignature(h)}; on ${primary!.kernelLabel}: ${hookSignature(here)}. The argument list fits only one of them: keep one probe per kernel or read the differing argument with CO-RE checks.`);
      }
    }
  }
  return out;
}
