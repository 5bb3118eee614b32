// Feature: the tracing panel, where users look at what the kernel did during a trace session.
// Commands: bpfLsm.showTracingPanel, bpfLsm.openTraceSession, bpfLsm.exportTraceSession, and the test-only
// bpfLsm._panelTest (registered only when BPF_LSM_TEST is set or VS Code runs extension tests).
// Virtual documents: `bpf-lsm-hook:/<hook>.h`, the reference of a hook (signature, return rule, kernel docs),
// as the language server renders it (the same text as hover).
//
// Wired here from its parts in panel/: host.ts (the TracingPanel and its webview), sessionFiles.ts (saved
// sessions), hookReference.ts (hook reference documents), testCommand.ts (the e2e suites' handle).
import * as vscode from 'vscode';
import type { Studio } from './studio';
import { TracingPanel } from './panel/host';
import { registerHookReference } from './panel/hookReference';
import { languageServer } from './languageClient';
import { basename } from 'node:path';
import { asUri, pickSavedSession } from './panel/sessionFiles';
import { registerTestCommand } from './panel/testCommand';

export function registerTracingPanel(studio: Studio): void {
  studio.own(registerHookReference(() => languageServer(studio)), { dispose: () => TracingPanel.current?.dispose() });

  studio.command('showTracingPanel', () => {
    TracingPanel.show(studio);
  });

  studio.command('openTraceSession', async (arg?: unknown) => {
    const uri = asUri(arg) ?? (await pickSavedSession());
    if (!uri) return undefined;
    const panel = TracingPanel.show(studio);
    const result = await panel.openFile(uri);
    studio.log(`tracing panel: opened ${uri.toString()}: ${result.events} events, ${result.skipped} malformed lines skipped`);
    if (result.skipped) {
      void vscode.window.showWarningMessage(`BPF-LSM: ${result.skipped} line(s) of ${basename(uri.path)} are not trace events and were skipped.`);
    }
    return result;
  });

  studio.command('exportTraceSession', async (arg?: unknown) => {
    const panel = TracingPanel.current;
    if (!panel || panel.model.size === 0) {
      void vscode.window.showInformationMessage('BPF-LSM: there is no trace session to export. Run Trace Executable or open a saved session first.');
      return undefined;
    }
    let uri = asUri(arg);
    if (!uri) {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const name = `trace-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`;
      uri = await vscode.window.showSaveDialog({
        title: 'Export Trace Session',
        filters: { 'Trace sessions': ['jsonl'] },
        ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
      });
      if (!uri) return undefined;
    }
    const count = await panel.exportTo(uri);
    studio.log(`tracing panel: exported ${count} events to ${uri.toString()}`);
    void vscode.window.showInformationMessage(`BPF-LSM: exported ${count.toLocaleString('en-US')} events to ${basename(uri.path)}.`);
    return { events: count, uri: uri.toString() };
  });

  if (process.env.BPF_LSM_TEST || studio.context.extensionMode === vscode.ExtensionMode.Test) registerTestCommand(studio);
}
