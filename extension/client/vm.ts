// Feature: the built-in BPF-LSM VM from the editor.
// Commands: bpfLsm.startVm (prepares assets once with progress, boots, waits for ssh), bpfLsm.stopVm.
// Context key: bpfLsm.vmRunning. A VM this window started is stopped when the extension shuts down; one
// started elsewhere (`bpf-lsm vm up`) is left alone.
import * as vscode from 'vscode';
import { BuiltinVm } from '../core/vm/vm';
import { Studio } from './studio';
import { TargetService } from './targets';

export function registerVm(studio: Studio, targets: TargetService): void {
  const vm = new BuiltinVm();
  let startedHere: number | undefined;
  const setRunning = (running: boolean) => void vscode.commands.executeCommand('setContext', 'bpfLsm.vmRunning', running);
  setRunning(!!vm.running());

  studio.command('startVm', async () => {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'BPF-LSM VM', cancellable: false },
      (progress) =>
        vm.up((message) => {
          studio.log(`VM: ${message}`);
          progress.report({ message });
        }),
    );
    if (!result.reused) startedHere = result.pid;
    setRunning(true);
    const how = result.reused ? 'already running' : `ready in ${(result.totalMs / 1000).toFixed(1)} s`;
    studio.log(`VM ${how}: ssh port ${result.port}, kernel ${result.kernelRelease}, LSMs ${result.lsm.join(',')}`);
    void targets.refresh();
    const message = `BPF-LSM VM ${how} (kernel ${result.kernelRelease}).`;
    if (targets.id !== 'vm') {
      void vscode.window.showInformationMessage(message, 'Use as Target').then((p) => p && targets.select('vm'));
    } else {
      void vscode.window.showInformationMessage(message);
    }
    return { port: result.port, kernelRelease: result.kernelRelease, lsm: result.lsm, reused: result.reused };
  });

  studio.command('stopVm', async () => {
    const r = await vm.down();
    startedHere = undefined;
    setRunning(false);
    void targets.refresh();
    void vscode.window.showInformationMessage(r.wasRunning ? 'BPF-LSM VM stopped.' : 'The BPF-LSM VM was not running.');
    return r;
  });

  studio.ownAsync(async () => {
    const running = vm.running();
    if (startedHere !== undefined && running?.pid === startedHere) await vm.down().catch(() => undefined);
  });
}

/**
 * For commands that act on the built-in VM's kernel: when the VM is the target and is not running, offer
 * to start it and then run `command` again with `arg`, without blocking the command on a dialog (booting
 * takes a while, so it only happens on the user's word). Returns true when the command should stop here.
 */
export function offerToStartVm(targets: TargetService, why: string, button: string, command: string, arg?: unknown): boolean {
  if (targets.id !== 'vm' || new BuiltinVm().running()) return false;
  void vscode.window.showWarningMessage(`BPF-LSM: the built-in VM is not running; ${why}.`, button).then(async (pick) => {
    if (!pick) return;
    await vscode.commands.executeCommand('bpfLsm.startVm');
    if (new BuiltinVm().running()) await vscode.commands.executeCommand(command, arg);
  });
  return true;
}
