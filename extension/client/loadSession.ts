// The editor's connection for loaded probes: one helper per target, kept open while probes are loaded
// (the helper unloads everything it owns when this connection closes: window closed, target changed).
// Remembers which source each loaded object came from and its verifier logs, for the programs view.
import * as vscode from 'vscode';
import { HelperClient } from '../core/helperClient';
import { TargetConnection } from './targetConnection';
import { Studio } from './studio';
import { TargetService } from './targets';

export interface LoadedProbe {
  readonly objectId: number;
  readonly source: vscode.Uri;
  readonly logs: Record<string, string>;
}

export class ProbeSessions implements vscode.Disposable {
  readonly probes = new Map<number, LoadedProbe>();
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when probes are loaded, unloaded, or the connection ends. */
  readonly onDidChange = this.changed.event;
  private readonly connection: TargetConnection<HelperClient>;

  constructor(studio: Studio, targets: TargetService) {
    this.connection = new TargetConnection(studio, targets, {
      open: async (target) => HelperClient.connect(await target.startHelper(), { client: 'vscode load probe' }),
      closed: (c) => c.closed,
      close: (c) => c.close(),
      onGone: (id, reason, lost) => {
        if (lost) studio.output.warn(`probe connection to ${id} closed: ${reason}; its probes were unloaded`);
        this.probes.clear();
        this.changed.fire();
      },
    });
  }

  /** The connected helper of the current target, if there is one (never connects). */
  connected(): Promise<HelperClient | undefined> {
    return this.connection.connected();
  }

  client(): Promise<HelperClient> {
    return this.connection.get();
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
    await this.connection.reset();
  }

  dispose(): void {
    this.connection.dispose();
    this.changed.dispose();
  }
}
