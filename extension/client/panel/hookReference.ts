// The reference of one LSM hook as a read-only C header, `bpf-lsm-hook:/<hook>.h`: signature, return rule,
// sleepable flag, the kernel's documentation and a program stub. The tracing panel opens it from a hook
// event (and when an event's source is not found). One module so the panel can switch to the language
// server's hook-reference request without touching the host.
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { release } from 'node:os';
import { catalogFromFile, hookSignature, HookCatalog } from '../../shared/hooks/catalog';
import { findHookDocs } from '../../shared/hooks/docs';
import { bpfProgStub, secLine } from '../../shared/hooks/stub';

export const HOOK_SCHEME = 'bpf-lsm-hook';

let catalog: { value?: HookCatalog; docs?: Map<string, string>; error?: string } | undefined;

function loadCatalog(): NonNullable<typeof catalog> {
  if (catalog) return catalog;
  const config = vscode.workspace.getConfiguration('bpfLsm');
  const btf = config.get<string>('btfPath') || '/sys/kernel/btf/vmlinux';
  try {
    const value = catalogFromFile(btf);
    const docs = findHookDocs(config.get<string>('kernelSourcePath') || undefined, release(), new Set(value.hooks.map((h) => h.name))).docs;
    catalog = { value, docs };
  } catch (err) {
    catalog = { error: err instanceof Error ? err.message : String(err) };
  }
  return catalog;
}

/** C text for `bpf-lsm-hook:/<hook>.h`: what a hover on the hook would say, as a read-only header. */
export function hookReferenceText(hook: string): string {
  const { value, docs, error } = loadCatalog();
  const safe = (text: string) => text.replace(/\*\//g, '* /');
  const h = value?.get(hook);
  if (!h) {
    const why = error ? `the hook catalog could not be read: ${error}` : `${value?.kernelLabel ?? 'this kernel'} has no LSM hook of that name`;
    return `/*\n * LSM hook ${safe(hook)}\n *\n * No reference available: ${safe(why)}.\n * Set bpfLsm.btfPath to the target kernel's BTF to see its signature.\n */\n`;
  }
  const rule = h.returnRule === 'errno'
    ? 'int: 0 allows, a negative errno (-EPERM, -EACCES) denies'
    : h.returnRule === 'bool' ? 'bool-like int: the kernel reads the value as yes/no' : 'void: the return value is ignored, this hook cannot deny';
  const doc = h.doc ?? docs?.get(hook);
  const lines = [
    `/*`,
    ` * LSM hook ${h.name}   (category ${h.category}, ${value!.kernelLabel})`,
    ` *`,
    ` * Returns: ${rule}.`,
    ` * Sleepable: ${h.sleepable ? 'yes, SEC("lsm.s/...") programs may use sleepable helpers' : 'no'}.`,
    ...(h.disabled ? [` * Disabled: BPF programs cannot attach to this hook on this kernel.`] : []),
  ];
  if (doc) lines.push(' *', ' * Kernel documentation:', ...safe(doc).split('\n').map((l) => ` *   ${l}`.trimEnd()));
  lines.push(' */', `${hookSignature(h)};`, '', '/* A BPF-LSM program on this hook: */', secLine(h), bpfProgStub(h), '');
  return lines.join('\n');
}

export async function openHookReference(hook: string, column: vscode.ViewColumn, preserveFocus: boolean): Promise<vscode.Uri> {
  const uri = vscode.Uri.from({ scheme: HOOK_SCHEME, path: `/${hook}.h` });
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.languages.setTextDocumentLanguage(doc, 'c');
  await vscode.window.showTextDocument(doc, { viewColumn: column, preserveFocus, preview: true });
  return uri;
}

/** Serves `bpf-lsm-hook:` documents. */
export function registerHookReference(): vscode.Disposable {
  return vscode.workspace.registerTextDocumentContentProvider(HOOK_SCHEME, {
    provideTextDocumentContent: (uri) => hookReferenceText(basename(uri.path).replace(/\.h$/, '')),
  });
}
