// Apply Enforcement Policy in real VS Code against the built-in VM: an audit-mode bpf-lsm.policy.json lets
// the listed program run and its would-be denial arrives in the tracing panel; saving the file in enforce
// mode updates the rules in place (the program is then denied); Clear removes the policy.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmTarget } from '../../extension/core/targets/vm';
import { extensionUnderTest, waitFor } from './util';

const BIN = '/tmp/bls-e2e-policy';

interface PanelSnapshot {
  title: string;
  total: number;
  histogram: ReadonlyArray<{ hook: string; total: number }>;
}

describe('Apply Enforcement Policy (built-in VM)', function () {
  this.timeout(10 * 60_000);
  const vm = vmTarget();
  let dir: string;
  const run = () => vm.exec('sh', ['-c', `"$1"`, 'sh', BIN]);

  before(async () => {
    await extensionUnderTest().activate();
    dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-e2e-policy-'));
    await vscode.workspace.getConfiguration('bpfLsm').update('target', 'vm', vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('bpfLsm.startVm');
    const w = await vm.exec('sh', ['-c', `printf '#!/bin/sh\\necho ran\\n' > ${BIN} && chmod +x ${BIN}`]);
    assert.equal(w.exitCode, 0, w.stderr);
  });
  after(async () => {
    await vscode.commands.executeCommand('bpfLsm.clearPolicy');
    await vm.exec('rm', ['-f', BIN]).catch(() => undefined);
    await vscode.workspace.getConfiguration('bpfLsm').update('target', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    rmSync(dir, { recursive: true, force: true });
  });

  it('audit: runs, and the would-be denial shows in the tracing panel; enforce on save: denied; clear: runs', async () => {
    const file = join(dir, 'bpf-lsm.policy.json');
    writeFileSync(file, JSON.stringify({ mode: 'audit', deny: [BIN] }));
    const uri = vscode.Uri.file(file);
    assert.equal(await vscode.commands.executeCommand('bpfLsm.applyPolicy', uri), true, 'see the output channel');
    const r = await run();
    assert.equal(r.stdout.trim(), 'ran', r.stderr);
    const state = await waitFor(async () => {
      const s = (await vscode.commands.executeCommand('bpfLsm._panelTest', 'state')) as PanelSnapshot;
      return s.title === 'Exec policy (audit)' && s.histogram.some((h) => h.hook === 'bprm_check_security') ? s : undefined;
    }, 'the audit event in the tracing panel', 30_000);
    assert.ok(state.total >= 1);

    const editor = await vscode.window.showTextDocument(uri);
    await editor.edit((b) => b.replace(new vscode.Range(0, 0, editor.document.lineCount, 0), JSON.stringify({ mode: 'enforce', deny: [BIN] })));
    await editor.document.save();
    await waitFor(async () => /Operation not permitted/.test((await run()).stderr), 'the saved enforce policy to deny the program', 60_000);

    await vscode.commands.executeCommand('bpfLsm.clearPolicy');
    assert.equal((await run()).stdout.trim(), 'ran');
  });
});
