// Load Probe and the Loaded Programs view in real VS Code against the built-in VM: a good probe loads and
// is listed attached; detaching it from the view removes its link (bpftool on the VM agrees); a probe
// with a verifier error gets an error diagnostic on the offending line.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmTarget } from '../../extension/core/targets/vm';
import type { LoadedObjectInfo } from '../../extension/shared/helperProtocol';
import { extensionUnderTest, waitFor } from './util';

const probes = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'probes');

describe('Load Probe and Loaded Programs (built-in VM)', function () {
  this.timeout(10 * 60_000);
  let dir: string;

  before(async () => {
    await extensionUnderTest().activate();
    dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-e2e-load-'));
    await vscode.workspace.getConfiguration('bpfLsm').update('target', 'vm', vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('bpfLsm.startVm');
  });
  after(async () => {
    await vscode.workspace.getConfiguration('bpfLsm').update('target', undefined, vscode.ConfigurationTarget.Global);
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the loaded probe attached; detaching it from the view removes its link (bpftool agrees)', async () => {
    const file = join(dir, 'counter.bpf.c');
    copyFileSync(join(probes, 'good.bpf.c'), file);
    const objectId = await vscode.commands.executeCommand<number>('bpfLsm.loadProbe', vscode.Uri.file(file));
    assert.equal(typeof objectId, 'number', 'Load Probe returned no object id: see the output channel');
    const objects = await vscode.commands.executeCommand<LoadedObjectInfo[]>('bpfLsm.refreshPrograms');
    const o = objects.find((x) => x.objectId === objectId)!;
    assert.equal(o.name, 'counter');
    const program = o.programs.find((p) => p.name === 'gfx_count_open')!;
    assert.equal(program.attached, true);

    const vm = vmTarget();
    const linkCount = async () => {
      const progs = JSON.parse((await vm.exec('bpftool', ['--json', 'prog', 'show'])).stdout) as Array<{ id: number; name?: string }>;
      const ids = new Set(progs.filter((p) => p.name === 'gfx_count_open').map((p) => p.id));
      const links = JSON.parse((await vm.exec('bpftool', ['--json', 'link', 'show'])).stdout || '[]') as Array<{ prog_id?: number }>;
      return links.filter((l) => l.prog_id !== undefined && ids.has(l.prog_id)).length;
    };
    assert.equal(await linkCount(), 1);
    await vscode.commands.executeCommand('bpfLsm.detachProgram', { kind: 'program', objectId, program });
    const after = await vscode.commands.executeCommand<LoadedObjectInfo[]>('bpfLsm.refreshPrograms');
    assert.equal(after.find((x) => x.objectId === objectId)?.programs.find((p) => p.name === 'gfx_count_open')?.attached, false);
    assert.equal(await linkCount(), 0);
    await vscode.commands.executeCommand('bpfLsm.unloadProbe', { kind: 'object', object: o });
    const gone = await vscode.commands.executeCommand<LoadedObjectInfo[]>('bpfLsm.refreshPrograms');
    assert.equal(gone.some((x) => x.objectId === objectId), false);
  });

  it('puts a verifier rejection on the offending line in Problems', async () => {
    const file = join(dir, 'null_check.bpf.c');
    copyFileSync(join(probes, 'null_check.bpf.c'), file);
    const line = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes('EXPECT'));
    const uri = vscode.Uri.file(file);
    assert.equal(await vscode.commands.executeCommand('bpfLsm.loadProbe', uri), undefined);
    const d = await waitFor(() => vscode.languages.getDiagnostics(uri).find((x) => x.source === 'bpf verifier'), 'a verifier diagnostic');
    assert.equal(d.range.start.line, line);
    assert.match(d.message, /map_value_or_null[\s\S]*NULL/);
  });
});
