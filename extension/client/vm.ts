// Feature: the built-in BPF-LSM VM from the editor.
// Commands: bpfLsm.startVm (prepares assets once with progress, boots, waits for ssh; then, when that VM is the
// target and bpfLsm.vm.loadTracerOnStart is on, bpfLsm.loadTracer in the background), bpfLsm.stopVm. Both act
// on the VM of the current target (`vm:6.12` -> the 6.12 VM), or the default VM when the target is no VM.
// Context key: bpfLsm.vmRunning, whether that VM runs (Stop VM is in the command palette only then; refreshed
// on start, stop and target changes). A VM this window started is stopped when the extension shuts down; one
// started elsewhere (`bpf-lsm vm up`) is left alone.
import * as vscode from 'vscode';
import { isVmTarget, VM_TARGET, vmForTarget } from '../core/targets';
import { Studio } from './studio';
import { TargetService } from './targets';

export function registerVm(studio: Studio, targets: TargetService): void {
  const vmOfTarget = () => vmForTarget(targets.id);
  /** The VMs this window booted, by qemu pid: stopped at shutdown when that same process still runs. */
  const startedHere = new Map<number, ReturnType<typeof vmForTarget>>();
  const setRunning = (running: boolean) => void vscode.commands.executeCommand('setContext', 'bpfLsm.vmRunning', running);
  setRunning(!!vmOfTarget().running());
  studio.own(targets.onDidChange(() => setRunning(!!vmOfTarget().running())));

  studio.command('startVm', async () => {
    const vm = vmOfTarget();
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'BPF-LSM VM', cancellable: false },
      (progress) =>
        vm.up((message) => {
          studio.log(`VM: ${message}`);
          progress.report({ message });
        }),
    );
    if (!result.reused) startedHere.set(result.pid, vm);
    setRunning(true);
    // A fresh boot of the current target's VM gets its tracer now, so the first trace starts at once.
    const loadTracer = () => {
      if (result.reused || !isVmTarget(targets.id) || vmForTarget(targets.id).paths.root !== vm.paths.root) return;
      if (!vscode.workspace.getConfiguration('bpfLsm').get<boolean>('vm.loadTracerOnStart', true)) return;
      void vscode.commands.executeCommand('bpfLsm.loadTracer');
    };
    const how = result.reused ? 'already running' : `ready in ${(result.totalMs / 1000).toFixed(1)} s`;
    studio.log(`VM ${how}: ssh port ${result.port}, kernel ${result.kernelRelease}, LSMs ${result.lsm.join(',')}`);
    void targets.refresh();
    const message = `BPF-LSM VM ${how} (kernel ${result.kernelRelease}).`;
    if (!isVmTarget(targets.id)) {
      void vscode.window.showInformationMessage(message, 'Use as Target').then(async (p) => {
        if (!p) return;
        await targets.select(VM_TARGET);
        loadTracer();
      });
    } else {
      loadTracer();
      void vscode.window.showInformationMessage(message);
    }
    return { port: result.port, kernelRelease: result.kernelRelease, lsm: result.lsm, reused: result.reused };
  });

  studio.command('stopVm', async () => {
    const vm = vmOfTarget();
    const r = await vm.down();
    for (const [pid, v] of startedHere) if (v.paths.root === vm.paths.root) startedHere.delete(pid);
    setRunning(false);
    void targets.refresh();
    void vscode.window.showInformationMessage(r.wasRunning ? 'BPF-LSM VM stopped.' : 'The BPF-LSM VM was not running.');
    return r;
  });

  studio.ownAsync(async () => {
    for (const [pid, vm] of startedHere) if (vm.running()?.pid === pid) await vm.down().catch(() => undefined);
  });
}

/**
 * For commands that act on the built-in VM's kernel: when the VM is the target and is not running, offer
 * to start it and then run `command` again with `arg`, without blocking the command on a dialog (booting
 * takes a while, so it only happens on the user's word). Returns true when the command should stop here.
 */
export function offerToStartVm(targets: TargetService, why: string, button: string, command: string, arg?: unknown): boolean {
  const target = targets.target;
  if (!target.stopped()) return false;
  void vscode.window.showWarningMessage(`BPF-LSM: ${target.description} is not running; ${why}.`, button).then(async (pick) => {
    if (!pick) return;
    await vscode.commands.executeCommand('bpfLsm.startVm');
    if (!target.stopped()) await vscode.commands.executeCommand(command, arg);
  });
  return true;
}
