// Build Probe in real VS Code: a probe with a compile error fills Problems on the right line (source
// "clang"); fixing it clears them and writes the object; the "bpf-lsm" task provider offers one Build
// Probe task per *.bpf.c with the $bpf-lsm problem matcher. Compiled against this machine's BTF
// (bpfLsm.btfPath), so no target is needed.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './util';

const probes = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'probes');

describe('Build Probe', function () {
  this.timeout(120_000);
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-e2e-build-'));
    await vscode.workspace.getConfiguration('bpfLsm').update('btfPath', '/sys/kernel/btf/vmlinux', vscode.ConfigurationTarget.Global);
  });
  after(async () => {
    await vscode.workspace.getConfiguration('bpfLsm').update('btfPath', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts compile errors in Problems on their lines, and clears them once the probe compiles', async () => {
    const file = join(dir, 'broken.bpf.c');
    copyFileSync(join(probes, 'compile_error.bpf.c'), file);
    const line = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes('EXPECT')) ;
    const uri = vscode.Uri.file(file);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    const result = await vscode.commands.executeCommand('bpfLsm.buildProbe', uri);
    assert.equal(result, undefined, 'no object for a probe that does not compile');
    const diags = await waitFor(() => {
      const ds = vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'clang' && d.severity === vscode.DiagnosticSeverity.Error);
      return ds.length ? ds : undefined;
    }, 'clang errors in Problems');
    assert.ok(diags.some((d) => d.range.start.line === line && /undeclared_thing/.test(d.message)), JSON.stringify(diags.map((d) => [d.range.start.line, d.message])));

    writeFileSync(file, readFileSync(join(probes, 'good.bpf.c')));
    const object = await vscode.commands.executeCommand<string>('bpfLsm.buildProbe', uri);
    assert.equal(object, join(dir, 'good.bpf.o'.replace('good', 'broken')));
    assert.ok(existsSync(object));
    await waitFor(() => vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'clang').length === 0, 'Problems cleared after a clean build');
  });

  it('offers a Build Probe task per probe with the bpf-lsm problem matcher', async () => {
    const tasks = await vscode.tasks.fetchTasks({ type: 'bpf-lsm' });
    const names = tasks.map((t) => t.name).sort();
    assert.ok(names.includes('Build Probe: minimal.bpf.c') && names.includes('Build Probe: probe.bpf.c'), names.join(', '));
    const t = tasks.find((x) => x.name === 'Build Probe: minimal.bpf.c')!;
    assert.deepEqual(t.problemMatchers, ['$bpf-lsm']);
    assert.equal(t.group?.id, vscode.TaskGroup.Build.id);
  });
});
