// Feature: the resident tracer of the current target, visible and releasable. After the first trace on a
// target the tracer stays loaded and attached there (extension/helper/residentTracer.ts), so later traces
// start at once; a status bar item says so, and its click releases it (detached on the target in the
// background). On the built-in VM it stays until the VM stops; elsewhere it goes after an idle time.
// Commands: bpfLsm.releaseTracer (in the palette always: a tracer the CLI left resident can be released too).
// Setting: bpfLsm.tracer.idleMinutes (local and ssh targets).
import * as vscode from 'vscode';
import type { Target } from '../core/target';
import { HelperClient } from '../core/helperClient';
import { DEFAULT_IDLE_MS, TracerSession, TracerState } from '../core/trace/tracerSession';
import { Studio } from './studio';
import { TargetConnection } from './targetConnection';
import { TargetService } from './targets';

/** The idle time after which a tracer this window loads is released (never on the built-in VM). */
export function configuredIdleMs(target: Target): number {
  if (target.ownedMachine) return 0;
  const minutes = vscode.workspace.getConfiguration('bpfLsm').get<number>('tracer.idleMinutes');
  return typeof minutes === 'number' && Number.isFinite(minutes) && minutes >= 0 ? Math.round(minutes * 60_000) : DEFAULT_IDLE_MS;
}

/** bpfLsm.tracer.hooksIdleSeconds in milliseconds; undefined: the helper's default. */
export function configuredHooksIdleMs(): number | undefined {
  const seconds = vscode.workspace.getConfiguration('bpfLsm').get<number>('tracer.hooksIdleSeconds');
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1000) : undefined;
}

export class ResidentTracerItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('bpfLsm.tracer', vscode.StatusBarAlignment.Left, 49);

  constructor() {
    this.item.name = 'BPF-LSM Resident Tracer';
    this.item.command = 'bpfLsm.releaseTracer';
  }

  shown(target: Target, state: TracerState, idleMs: number): void {
    this.item.text = '$(pulse) tracer';
    const until = idleMs ? `until ${Math.round(idleMs / 60_000)} min without a trace` : 'until the VM stops';
    this.item.tooltip = `The BPF-LSM tracer stays attached on ${target.id} (${state.attached.length} hooks, kernel ${state.kernel}) ${until}, so traces start at once. Click to release it.`;
    this.item.show();
  }

  hidden(): void {
    this.item.hide();
  }

  dispose(): void {
    this.item.dispose();
  }
}

export function registerResidentTracer(studio: Studio, targets: TargetService, warm: TargetConnection<TracerSession>, item: ResidentTracerItem): void {
  studio.own(item, targets.onDidChange(() => item.hidden()));
  studio.command('releaseTracer', async () => {
    const target = targets.target;
    if (target.stopped()) {
      item.hidden();
      void vscode.window.showInformationMessage(`BPF-LSM: ${target.description} is not running, so no tracer is resident there.`);
      return { released: [] };
    }
    // This window's trace slot goes first, then the tracer itself, through a helper of its own.
    await warm.reset('the tracer was released');
    const client = await HelperClient.connect(await target.startHelper(), { client: 'bpf-lsm release tracer' });
    try {
      const { released } = await client.call('tracerRelease', {});
      item.hidden();
      const msg = released.length ? `released the tracer on ${target.id}; its programs are detached in the background` : `no tracer was resident on ${target.id}`;
      studio.log(msg);
      void vscode.window.setStatusBarMessage(`$(pulse) BPF-LSM: ${msg}`, 5000);
      return { released };
    } finally {
      await client.close().catch(() => undefined);
    }
  });
}
