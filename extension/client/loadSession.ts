// The editor's connection for loaded probes: one helper per target, kept open while probes are loaded
// (the helper unloads everything it owns when this connection closes: window closed, target changed).
// Remembers which source each loaded object came from and its verifier logs, for the programs view.
import * as vscode from 'vscode';
import { HelperClient } from '../core/helperClient';
import { BuiltinVm } from '../core/vm/vm';
import { Studio } from './studio';
import { TargetService } from './targets';

export interface LoadedProbe {
  readonly objectId: number;
  readonly source: vscode.Uri;
  readonly logs: Record<string, string>;
}

export class ProbeSessions implements vscode.Disposable {
  private current: { id: string; client: Promise<HelperClient> } | undefined;
  readonly probes = new Map<number, LoadedProbe>();
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when probes are loaded, unloaded, or the connection ends. */
  readonly onDidChange = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly studio: Studio, private readonly targets: TargetService) {
    this.subscription = targets.onDidChange(() => void this.closeAll());
  }

  /** The connected helper of the current target, if there is one (never connects). */
  async connected(): Promise<HelperClient | undefined> {
    if (!this.current || this.current.id !== this.targets.id) return undefined;
    return this.current.client.catch(() => undefined);
  }

  client(): Promise<HelperClient> {
    const id = this.targets.id;
    if (this.current?.id === id) return this.current.client;
    void this.closeAll();
    const client = (async () => {
      if (id === 'vm') await new BuiltinVm().up((m) => this.studio.log(`vm: ${m}`));
      const c = await HelperClient.connect(await this.targets.target.startHelper(), { client: 'vscode load probe' });
      void c.closed.then((e) => {
        this.studio.output.warn(`probe connection to ${id} closed: ${e.message}; its probes were unloaded`);
        if (this.current?.client === client) {
          this.current = undefined;
          this.probes.clear();
          this.changed.fire();
        }
      });
      return c;
    })();
    this.current = { id, client };
    client.catch(() => {
      if (this.current?.client === client) this.current = undefined;
    });
    return client;
  }

  remember(objectId: number, source: vscode.Uri, logs: Record<string, string>): void {
    this.probes.set(objectId, { objectId, source, logs });
    this.changed.fire();
  }

  forget(objectId: number): void {
    this.probes.delete(objectId);
    this.changed.fire();
  }

  refresh(): void {
    this.changed.fire();
  }

  async closeAll(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    this.probes.clear();
    this.changed.fire();
    if (c) await c.client.then((x) => x.close(), () => undefined);
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
    void this.closeAll();
  }
}
