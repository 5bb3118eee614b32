// Trace Executable inside real VS Code against the real kernel: the default target on a host that cannot
// run BPF-LSM programs is the built-in VM, which the command brings up itself. Events land in the panel.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { extensionUnderTest } from './util';
import { HelperClient } from '../../extension/core/helperClient';
import { vmTarget } from '../../extension/core/targets/vm';

interface PanelSnapshot {
  title: string;
  state: string;
  total: number;
  histogram: ReadonlyArray<{ hook: string; total: number }>;
}

describe('Trace Executable (real kernel in the built-in VM)', function () {
  // Cold: boot the VM, read its BTF, compile, load and attach ~230 programs under TCG on a busy host.
  this.timeout(10 * 60_000);

  it('traces a shell and its child, and shows the events in the tracing panel', async () => {
    await extensionUnderTest().activate();
    const result = (await vscode.commands.executeCommand('bpfLsm.traceExecutable', {
      program: '/bin/sh',
      args: ['-c', 'cat /etc/hostname; true'],
    })) as { exitCode: number; events: number; drops: Record<string, number>; perHook: Record<string, number> } | undefined;
    assert.ok(result, 'the command returned no result: see the BPF-LSM Studio output channel');
    assert.equal(result.exitCode, 0);
    assert.ok(result.events > 50, `only ${result.events} events`);
    assert.ok((result.perHook.file_open ?? 0) >= 2, `file_open seen ${result.perHook.file_open ?? 0} times`);
    assert.ok((result.perHook.bprm_check_security ?? 0) >= 1);
    assert.equal(result.drops.unaccounted, 0);

    const state = (await vscode.commands.executeCommand('bpfLsm._panelTest', 'state')) as PanelSnapshot;
    assert.equal(state.title, '/bin/sh -c cat /etc/hostname; true');
    assert.equal(state.state, 'ended');
    assert.ok(state.total >= result.events, `panel holds ${state.total} of ${result.events} events`);
    assert.equal(state.histogram.find((h) => h.hook === 'file_open')?.total, result.perHook.file_open);
  });

  it('Load Tracer on Target, after Release Resident Tracer, has the tracer resident again with this window on it', async () => {
    await vscode.commands.executeCommand('bpfLsm.releaseTracer');
    const loaded = (await vscode.commands.executeCommand('bpfLsm.loadTracer')) as { target: string; hooks: number } | undefined;
    assert.ok(loaded, 'the command returned no result: see the BPF-LSM Studio output channel');
    assert.equal(loaded.target, 'vm');
    assert.ok(loaded.hooks > 200, `${loaded.hooks} hooks`);
    const client = await HelperClient.connect(await vmTarget().startHelper(), { client: 'e2e tracer status' });
    try {
      const { tracers } = await client.call('tracerStatus', {});
      const resident = tracers.filter((t) => t.state === 'resident');
      assert.equal(resident.length, 1, JSON.stringify(tracers));
      assert.equal(resident[0].tracesRunning, 1, "this window's connection holds a slot");
    } finally {
      await client.close();
    }
  });

  it('starts a second trace on the attached tracer without attaching again', async () => {
    const started = Date.now();
    const result = (await vscode.commands.executeCommand('bpfLsm.traceExecutable', { program: '/bin/true' })) as { exitCode: number; events: number } | undefined;
    assert.equal(result?.exitCode, 0);
    assert.ok(result.events > 0);
    // Loading and attaching takes the VM many seconds; a warm trace of /bin/true does not.
    assert.ok(Date.now() - started < 15_000, `the warm trace took ${Date.now() - started} ms`);
  });
});
