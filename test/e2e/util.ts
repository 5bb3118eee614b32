// Helpers for suites that run inside VS Code: fixture files, and waiting on conditions instead of sleeping.
import * as vscode from 'vscode';
import { join } from 'node:path';

export const EXTENSION_ID = 'bpf-lsm-studio.bpf-lsm-studio';

export function extensionUnderTest(): vscode.Extension<unknown> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} is not installed in this VS Code`);
  return ext;
}

/** The copy of test/fixtures/workspace that this VS Code opened. */
export function workspaceFolder(): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error('no workspace folder is open: the runner opens a copy of test/fixtures/workspace');
  return folder.uri;
}

export async function openFixture(name: string): Promise<vscode.TextEditor> {
  const uri = vscode.Uri.joinPath(workspaceFolder(), ...name.split('/'));
  const doc = await vscode.workspace.openTextDocument(uri);
  return vscode.window.showTextDocument(doc);
}

/** Polls `check` until it returns a truthy value; fails with what was awaited after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function fixturePath(...parts: string[]): string {
  return join(workspaceFolder().fsPath, ...parts);
}
