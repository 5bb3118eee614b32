// Feature: from the tracing panel's session to a policy, and a policy tried on it.
// Commands: bpfLsm.proposePolicy (optional argument: the policy file's Uri; default the workspace's
// bpf-lsm.policy.json) writes the profile the session shows the traced program needs, or, when the file
// exists, opens the difference against it; bpfLsm.replayPolicy (optional argument: the policy file's Uri)
// marks each event of the session the policy would deny (the hook returns -EPERM, "Denied only" shows
// them) and reports counts per rule. Both work on recorded sessions as on finished live ones, with no target.
import * as vscode from 'vscode';
import { basename } from 'node:path';
import type { Studio } from './studio';
import { TracingPanel } from './panel/host';
import { POLICY_FILE } from './policy';
import { asUri } from './panel/sessionFiles';
import { proposeProfile, ProposeError } from '../core/policy/propose';
import { mergeProfile } from '../core/policy/policyText';
import { parsePolicyDocument } from '../core/policy/profile';
import { PolicyError } from '../core/policy/policy';
import { markDenials, replay } from '../core/policy/replay';
import type { TraceEvent } from '../shared/traceEvent';

function sessionEvents(): { panel: TracingPanel; events: TraceEvent[] } | undefined {
  const panel = TracingPanel.current;
  if (!panel || panel.model.size === 0) return undefined;
  const events: TraceEvent[] = [];
  for (let i = 0; i < panel.model.size; i++) events.push(panel.model.event(i, false));
  return { panel, events };
}

const NO_SESSION = 'BPF-LSM: the tracing panel has no session to work from. Run Trace Executable or open a saved session first.';

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}

async function pickPolicyFile(): Promise<vscode.Uri | undefined> {
  const files = await vscode.workspace.findFiles('**/*.policy.json', '**/node_modules/**', 50);
  if (files.length === 1) return files[0];
  const browse = { label: '$(folder-opened) Browse…', description: 'choose a file', uri: undefined as vscode.Uri | undefined };
  const items = [...files.map((uri) => ({ label: `$(shield) ${basename(uri.path)}`, description: vscode.workspace.asRelativePath(uri, true), uri })), browse];
  const picked = await vscode.window.showQuickPick(items, { title: 'BPF-LSM: Replay Policy', placeHolder: 'The policy to try on the session' });
  if (!picked) return undefined;
  if (picked.uri) return picked.uri;
  return (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Policy files': ['json'] }, title: 'Replay Policy' }))?.[0];
}

export function registerPolicyFromTrace(studio: Studio): void {
  studio.command('proposePolicy', async (arg?: unknown) => {
    const session = sessionEvents();
    if (!session) {
      void vscode.window.showInformationMessage(NO_SESSION);
      return undefined;
    }
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const uri = asUri(arg) ?? (folder ? vscode.Uri.joinPath(folder, POLICY_FILE) : undefined);
    if (!uri) {
      void vscode.window.showInformationMessage('BPF-LSM: open a folder first: the proposed policy is written to its bpf-lsm.policy.json.');
      return undefined;
    }
    let proposal;
    try {
      proposal = proposeProfile(session.events);
    } catch (err) {
      if (!(err instanceof ProposeError)) throw err;
      void vscode.window.showWarningMessage(`BPF-LSM: ${err.message}`);
      return undefined;
    }
    const existing = (await exists(uri)) ? new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)) : undefined;
    let merged: string;
    try {
      merged = mergeProfile(existing, proposal.profile, vscode.workspace.asRelativePath(uri));
    } catch (err) {
      void vscode.window.showErrorMessage(`BPF-LSM: ${(err as Error).message}; fix the file, then propose again.`);
      return undefined;
    }
    for (const n of proposal.notes) studio.log(`propose: generalised: ${n}`);
    const { profile } = proposal;
    if (existing === undefined) {
      await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(merged));
      await vscode.window.showTextDocument(uri);
      studio.log(`propose: wrote ${uri.fsPath}: profile "${profile.name}" (${profile.exec.length} exec, ${profile.files.length} file, ${profile.connect.length} connect rules, ${profile.mode})`);
      return { uri: uri.toString(), written: true, profile: profile.name, notes: proposal.notes };
    }
    // The file exists: show what would change and leave it to the user (the right side can be saved over it).
    const proposed = await vscode.workspace.openTextDocument({ language: 'json', content: merged });
    await vscode.commands.executeCommand('vscode.diff', uri, proposed.uri, `${basename(uri.path)} ↔ proposed profile "${profile.name}"`);
    return { uri: uri.toString(), written: false, profile: profile.name, notes: proposal.notes };
  });

  studio.command('replayPolicy', async (arg?: unknown) => {
    const session = sessionEvents();
    if (!session) {
      void vscode.window.showInformationMessage(NO_SESSION);
      return undefined;
    }
    const uri = asUri(arg) ?? (await pickPolicyFile());
    if (!uri) return undefined;
    let doc;
    try {
      doc = parsePolicyDocument(new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)), vscode.workspace.asRelativePath(uri));
    } catch (err) {
      if (!(err instanceof PolicyError) && !(err instanceof vscode.FileSystemError)) throw err;
      void vscode.window.showErrorMessage(`BPF-LSM: ${(err as Error).message}`);
      return undefined;
    }
    const result = replay(doc, session.events);
    const { panel } = session;
    const title = panel.snapshot().title;
    panel.startSession({ title: `${title} · replay of ${basename(uri.path)}`, detail: `${result.denials.length} would-be denial(s) by ${basename(uri.path)}: ${result.perRule.map((r) => `${r.count}× ${r.rule}`).join('; ') || 'none'}` }, 'saved');
    panel.append(markDenials(session.events, result));
    panel.endSession();
    const msg = `${result.denials.length} of ${result.requests} execs/opens/connects would be denied by ${basename(uri.path)}${result.perRule.length ? ` (${result.perRule.map((r) => `${r.count}× ${r.rule}`).join('; ')})` : ''}; "Denied only" shows them.`;
    studio.log(`replay: ${msg}`);
    void vscode.window.showInformationMessage(`BPF-LSM: ${msg}`);
    return { denials: result.denials.length, requests: result.requests, perRule: result.perRule };
  });
}
