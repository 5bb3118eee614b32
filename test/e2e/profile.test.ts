// From a trace to a policy inside real VS Code (the Must show 3): Propose Policy on a recorded
// session of `ls /home` writes and opens the proposed file; with the file in place, Propose shows the
// difference instead of overwriting it; Replay Policy on a recorded `ls /root` session marks the open of
// /root as denied, and the panel's "Denied only" filter shows exactly that row, rendered as denied.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { COMMANDS } from '../../extension/shared/commands';
import type { PanelState, RenderedPanel, WebviewToHost } from '../../extension/shared/panelProtocol';
import { extensionUnderTest, waitFor } from './util';

const fixtures = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'policy');
type State = PanelState & { open: boolean };
const test = <T>(op: string, arg?: unknown) => vscode.commands.executeCommand<T>('bpfLsm._panelTest', op, arg);
const post = (m: WebviewToHost) => test<State>('post', m);

describe('policy from the tracing panel', () => {
  let dir: string;
  before(async () => {
    await extensionUnderTest().activate();
    dir = mkdtempSync(join(tmpdir(), 'bls-e2e-propose-'));
  });
  after(async () => {
    await post({ type: 'setFilter', filter: {} });
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    rmSync(dir, { recursive: true, force: true });
  });

  it('Propose Policy from a recorded session writes and opens the proposed file, then shows a diff', async () => {
    const opened = await vscode.commands.executeCommand<{ events: number }>(COMMANDS.openTraceSession.id, vscode.Uri.file(join(fixtures, 'ls-home.jsonl')));
    assert.equal(opened.events, 445);
    const file = vscode.Uri.file(join(dir, 'bpf-lsm.policy.json'));
    const r = await vscode.commands.executeCommand<{ written: boolean; profile: string; notes: string[] }>(COMMANDS.proposePolicy.id, file);
    assert.equal(r.written, true);
    assert.equal(r.profile, 'ls');
    const editor = await waitFor(() => (vscode.window.activeTextEditor?.document.uri.fsPath === file.fsPath ? vscode.window.activeTextEditor : undefined), 'the proposed file open in an editor');
    const doc = JSON.parse(editor.document.getText());
    assert.deepEqual(doc.profiles[0].subject, { path: '/usr/bin/ls', descendants: false });
    assert.deepEqual(doc.profiles[0].files.map((f: { path: string }) => f.path), ['/home', '/lib/x86_64-linux-gnu/', '/proc/filesystems']);
    assert.equal(readFileSync(file.fsPath, 'utf8'), editor.document.getText());

    // The file exists now: an edited profile is not overwritten; the proposal opens as a diff against it.
    const edited = editor.document.getText().replace('"/proc/filesystems"', '"/proc/mounts"');
    await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(edited));
    const again = await vscode.commands.executeCommand<{ written: boolean }>(COMMANDS.proposePolicy.id, file);
    assert.equal(again.written, false);
    assert.equal(readFileSync(file.fsPath, 'utf8'), edited, 'the existing file is left as it was');
    await waitFor(() => vscode.window.tabGroups.activeTabGroup.activeTab?.input instanceof vscode.TabInputTextDiff || undefined, 'a diff editor');
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab!.input as vscode.TabInputTextDiff;
    assert.equal(tab.original.fsPath, file.fsPath);
    const proposed = vscode.workspace.textDocuments.find((d) => d.uri.toString() === tab.modified.toString())!;
    assert.match(proposed.getText(), /"\/proc\/filesystems"/);
    // Put the proposal back for the replay below.
    await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(proposed.getText()));
  });

  it('Replay Policy marks the would-be denials; "Denied only" shows them', async () => {
    // Other suites may have left editors over the panel or the rows grouped: one flat list, the panel in view.
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.commands.executeCommand(COMMANDS.openTraceSession.id, vscode.Uri.file(join(fixtures, 'ls-root-as-root.jsonl')));
    await post({ type: 'setGrouping', grouping: 'none' });
    const file = vscode.Uri.file(join(dir, 'bpf-lsm.policy.json'));
    const r = await vscode.commands.executeCommand<{ denials: number; perRule: Array<{ rule: string; count: number }> }>(COMMANDS.replayPolicy.id, file);
    assert.equal(r.denials, 1);
    assert.deepEqual(r.perRule.map((x) => [x.rule, x.count]), [['ls: no files rule allows it (default deny)', 1]]);
    const s = await post({ type: 'setFilter', filter: { deniedOnly: true } });
    assert.equal(s.total, 438, 'every event of the session is still there');
    assert.equal(s.matching, 1);
    let last: RenderedPanel | undefined;
    const shown = await waitFor(async () => {
      last = await test<RenderedPanel>('rendered');
      return last.rowsInDom === 1 && last.rows[0]?.denied ? last : undefined;
    }, 'one denied row in the webview').catch((err: Error) => {
      throw new Error(`${err.message}; the webview last showed ${JSON.stringify(last && { ...last, details: '' })}`);
    });
    assert.ok(shown.rows[0].cells.some((c) => c.includes('file_open')), JSON.stringify(shown.rows[0].cells));
  });
});
