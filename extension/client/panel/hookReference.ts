// The reference of one LSM hook as a read-only C header, `bpf-lsm-hook:/<hook>.h`: signature, return rule,
// sleepable flag, the kernel's documentation and a program stub. The tracing panel opens it from a hook
// event (and when an event's source is not found). Hooks have one owner, the language server: the text is
// its answer to the hook-reference request (shared/lspExt.ts), for the kernel hover answers for, so the
// panel and hover never disagree.
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { hookReferenceHeader } from '../../shared/hooks/reference';
import type { LanguageServer } from '../languageClient';

export const HOOK_SCHEME = 'bpf-lsm-hook';

/** C text for `bpf-lsm-hook:/<hook>.h`: the server's header, or one that says why there is none. */
export async function hookReferenceText(server: LanguageServer | undefined, hook: string): Promise<string> {
  try {
    if (!server) throw new Error('the BPF-LSM language server is not registered');
    return (await server.hookReference(hook)).header;
  } catch (err) {
    return hookReferenceHeader(undefined, hook, err instanceof Error ? err.message : String(err));
  }
}

export async function openHookReference(hook: string, column: vscode.ViewColumn, preserveFocus: boolean): Promise<vscode.Uri> {
  const uri = vscode.Uri.from({ scheme: HOOK_SCHEME, path: `/${hook}.h` });
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.languages.setTextDocumentLanguage(doc, 'c');
  await vscode.window.showTextDocument(doc, { viewColumn: column, preserveFocus, preview: true });
  return uri;
}

/** Serves `bpf-lsm-hook:` documents from the language server that `server()` names when one is opened. */
export function registerHookReference(server: () => LanguageServer | undefined): vscode.Disposable {
  return vscode.workspace.registerTextDocumentContentProvider(HOOK_SCHEME, {
    provideTextDocumentContent: (uri) => hookReferenceText(server(), basename(uri.path).replace(/\.h$/, '')),
  });
}
