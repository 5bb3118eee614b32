// Feature: the target (where probes load and traces run) and its status bar item.
// Commands: bpfLsm.selectTarget (quick pick: auto, local, the built-in VM, ssh hosts from ~/.ssh/config),
// bpfLsm.checkTarget (full check with remedies in the output channel).
// Context keys: bpfLsm.targetReady (the selected target's kernel runs BPF-LSM programs; shows Load Probe in
// the title bar of a *.bpf.c editor).
// Setting: bpfLsm.target (`auto`, `local`, `vm`, `ssh:<host>`).
// Other features get the current target from `targetService(studio)`.
import * as vscode from 'vscode';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Target } from '../core/target';
import { createTarget, parseTargetId, resolveTargetId, sshConfigHosts, VM_TARGET, vmTargetChoices } from '../core/targets';
import { checkTarget, formatReport, quickStatus } from '../core/targets/check';
import { Studio } from './studio';

export class TargetService implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('bpfLsm.target', vscode.StatusBarAlignment.Left, 50);
  private readonly changed = new vscode.EventEmitter<string>();
  /** Fires with the resolved target id whenever the selection changes. */
  readonly onDidChange = this.changed.event;
  private refreshing = 0;

  constructor() {
    this.item.name = 'BPF-LSM Target';
    this.item.command = 'bpfLsm.selectTarget';
    this.item.show();
  }

  /** The configured id (`auto` included). */
  get configuredId(): string {
    return vscode.workspace.getConfiguration('bpfLsm').get<string>('target') || 'auto';
  }

  /** The target id in use: `auto` resolved to local or vm. */
  get id(): string {
    try {
      return resolveTargetId(this.configuredId);
    } catch {
      return VM_TARGET;
    }
  }

  /**
   * The current target; throws with the reason when the setting names no valid target, or in an untrusted
   * workspace (every feature that reaches a target, starts the helper or runs ssh gets it from here).
   */
  get target(): Target {
    if (!vscode.workspace.isTrusted) throw new Error('targets are not contacted in Restricted Mode (untrusted workspace); trust this workspace to build, load and trace');
    return createTarget(this.configuredId);
  }

  async select(id: string): Promise<void> {
    parseTargetId(id);
    await vscode.workspace.getConfiguration('bpfLsm').update('target', id, vscode.ConfigurationTarget.Global);
  }

  configurationChanged(): void {
    this.changed.fire(this.id);
    void this.refresh();
  }

  /** Updates the status bar: target, kernel release and BPF-LSM readiness (one probe round trip). */
  async refresh(): Promise<void> {
    const ticket = ++this.refreshing;
    const id = this.id;
    let target: Target | undefined;
    try {
      // Only built here (nothing is contacted), for its label; an invalid setting is reported below.
      target = createTarget(id);
    } catch {
      target = undefined;
    }
    const label = target?.label ?? id;
    this.item.text = `$(server-environment) ${label} $(sync~spin)`;
    this.item.tooltip = `BPF-LSM target: ${id}${this.configuredId === 'auto' ? ' (auto)' : ''}. Click to change.`;
    let text: string;
    let tooltip: string;
    let ready = false;
    try {
      if (!vscode.workspace.isTrusted) {
        // Probing the target runs ssh (or sudo) with the user's credentials: not for an untrusted workspace.
        text = `$(server-environment) ${label} $(shield) restricted`;
        tooltip = `BPF-LSM target ${id}: not contacted in Restricted Mode. Trust this workspace to build, load and trace.`;
      } else if (target?.stopped()) {
        text = `$(server-environment) ${label} $(debug-stop) stopped`;
        tooltip = `BPF-LSM target ${id}: ${target.description} is not running. Run "BPF-LSM: Start VM".`;
      } else {
        const s = await quickStatus(this.target);
        ready = s.ready;
        text = `$(server-environment) ${label} ${s.kernelRelease ?? '?'} ${s.ready ? '$(check)' : '$(warning)'}`;
        tooltip = `BPF-LSM target ${id}: kernel ${s.kernelRelease ?? 'unknown'}; ${s.summary}. Click to change; run "BPF-LSM: Check Target" for remedies.`;
      }
    } catch (err) {
      text = `$(server-environment) ${label} $(error)`;
      tooltip = `BPF-LSM target ${id} is unreachable: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (ticket !== this.refreshing) return;
    this.item.text = text;
    this.item.tooltip = tooltip;
    void vscode.commands.executeCommand('setContext', 'bpfLsm.targetReady', ready);
  }

  dispose(): void {
    this.item.dispose();
    this.changed.dispose();
  }
}

const services = new WeakMap<Studio, TargetService>();

/** The target service of this extension instance (registered by registerTargets). */
export function targetService(studio: Studio): TargetService {
  const s = services.get(studio);
  if (!s) throw new Error('targets are not registered yet');
  return s;
}

function readSshConfig(): string {
  try {
    return readFileSync(join(homedir(), '.ssh', 'config'), 'utf8');
  } catch {
    return '';
  }
}

interface TargetPick extends vscode.QuickPickItem {
  readonly id?: string;
  readonly other?: boolean;
}

export function registerTargets(studio: Studio): TargetService {
  const service = new TargetService();
  services.set(studio, service);
  studio.own(service);
  studio.own(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('bpfLsm.target')) service.configurationChanged();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => service.configurationChanged()),
  );

  studio.command('selectTarget', async () => {
    const current = service.configuredId;
    const mark = (id: string) => (id === current ? ' $(check)' : '');
    const picks: TargetPick[] = [
      { label: `Auto${mark('auto')}`, description: `now ${resolveTargetId('auto')}`, detail: 'This machine when its kernel runs BPF-LSM programs, else the built-in VM', id: 'auto' },
      ...vmTargetChoices().map((vm) => ({ label: `$(vm) ${vm.label}${mark(vm.id)}`, description: vm.description, detail: vm.detail, id: vm.id })),
      { label: `$(device-desktop) This machine${mark('local')}`, description: 'local', detail: 'The kernel the extension runs on (under Remote-SSH: the remote host); the helper runs via sudo -n', id: 'local' },
    ];
    const hosts = sshConfigHosts(readSshConfig());
    if (hosts.length) picks.push({ label: 'SSH hosts', kind: vscode.QuickPickItemKind.Separator });
    for (const h of hosts) picks.push({ label: `$(remote) ${h}${mark(`ssh:${h}`)}`, description: `ssh:${h}`, id: `ssh:${h}` });
    picks.push({ label: '$(add) Other SSH host...', other: true });
    const pick = await vscode.window.showQuickPick(picks, { title: 'BPF-LSM: Select Target', placeHolder: `Current: ${current}` });
    if (!pick) return undefined;
    let id = pick.id;
    if (pick.other) {
      const host = await vscode.window.showInputBox({
        title: 'SSH host for BPF-LSM',
        prompt: 'A host name or an alias from your SSH config (user@host works too)',
        validateInput: (v) => {
          try {
            parseTargetId(`ssh:${v}`);
            return undefined;
          } catch (err) {
            return err instanceof Error ? err.message : String(err);
          }
        },
      });
      if (!host) return undefined;
      id = `ssh:${host.trim()}`;
    }
    if (!id) return undefined;
    await service.select(id);
    studio.log(`target set to ${id}`);
    return id;
  });

  studio.command('checkTarget', async () => {
    const target = service.target;
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `BPF-LSM: checking target ${target.id}`, cancellable: false },
      () => checkTarget(target),
    );
    studio.output.info(formatReport(report));
    void service.refresh();
    const failed = report.checks.filter((c) => c.status === 'fail');
    if (report.ok) {
      void vscode.window.showInformationMessage(`BPF-LSM: target ${report.target} (kernel ${report.kernelRelease}) can run BPF-LSM programs.`, 'Show Output').then((p) => p && studio.output.show());
    } else {
      const first = failed[0] ?? report.checks.find((c) => c.status !== 'ok');
      const actions = target.ownedMachine ? ['Show Output'] : ['Show Output', 'Use Built-in VM'];
      void vscode.window.showWarningMessage(`BPF-LSM: target ${report.target} is not ready: ${first ? `${first.title}: ${first.detail}. ${first.remedy ?? ''}` : ''}`, ...actions).then(async (p) => {
        if (p === 'Show Output') studio.output.show();
        if (p === 'Use Built-in VM') await service.select(VM_TARGET);
      });
    }
    return report;
  });

  void service.refresh();
  return service;
}
