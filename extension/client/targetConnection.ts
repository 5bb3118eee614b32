// A feature's connection to the current target: opened on first use (booting the built-in VM when it is
// the target), shared by the feature's commands, and dropped when the target changes or the helper goes
// away, so the next use reconnects to whatever target is current. Load Probe, enforcement policies and
// Trace Executable each keep one (each owns what its helper loaded, and closing it tears that down).
import * as vscode from 'vscode';
import { Target } from '../core/target';
import { Studio } from './studio';
import { TargetService } from './targets';

export interface ConnectionKind<T> {
  /** Connects to the target (the VM is already up when it is the target). */
  open(target: Target, progress: (message: string) => void): Promise<T>;
  /** Resolves when the connection is gone by itself (helper exited, ssh dropped, VM stopped). */
  closed(connection: T): Promise<{ message: string }>;
  close(connection: T): Promise<void>;
  /**
   * Called when the current connection ends: `lost` when it went away by itself, else it was dropped on
   * purpose (target changed, reset, window closed).
   */
  onGone?(targetId: string, reason: string, lost: boolean): void;
}

export class TargetConnection<T> implements vscode.Disposable {
  private current: { id: string; connection: Promise<T> } | undefined;
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly studio: Studio,
    private readonly targets: TargetService,
    private readonly kind: ConnectionKind<T>,
  ) {
    this.subscription = targets.onDidChange(() => void this.reset('the target changed'));
  }

  /** The connection to the current target, opening it when there is none. */
  get(progress: (message: string) => void = (m) => this.studio.log(m)): Promise<T> {
    const id = this.targets.id;
    if (this.current?.id === id) return this.current.connection;
    void this.reset('the target changed');
    const connection = (async () => {
      const target = this.targets.target;
      await target.ensureUp(progress);
      const c = await this.kind.open(target, progress);
      void this.kind.closed(c).then((e) => {
        if (this.current?.connection !== connection) return;
        this.current = undefined;
        this.kind.onGone?.(id, e.message, true);
      });
      return c;
    })();
    this.current = { id, connection };
    connection.catch(() => {
      if (this.current?.connection === connection) this.current = undefined;
    });
    return connection;
  }

  /** The open connection to the current target, if there is one; never connects. */
  async connected(): Promise<T | undefined> {
    if (!this.current || this.current.id !== this.targets.id) return undefined;
    return this.current.connection.catch(() => undefined);
  }

  /** Closes the current connection (its helper then unloads what it owns). */
  async reset(reason = 'closed'): Promise<void> {
    const c = this.current;
    this.current = undefined;
    if (!c) return;
    this.kind.onGone?.(c.id, reason, false);
    await c.connection.then((x) => this.kind.close(x), () => undefined);
  }

  dispose(): void {
    this.subscription.dispose();
    void this.reset('the window closed');
  }
}
