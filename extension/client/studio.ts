// The extension-lifetime owner: the output channel, the registered commands, and every session-lifetime
// object (language client, target connection, trace session). Features hang their disposables here.
import * as vscode from 'vscode';
import { COMMANDS, CommandInfo, CommandKey } from '../shared/commands';

export class Studio implements vscode.Disposable {
  readonly output: vscode.LogOutputChannel;
  private readonly registered = new Set<string>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly asyncDisposers: Array<() => Promise<void>> = [];

  constructor(readonly context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('BPF-LSM Studio', { log: true });
    this.disposables.push(this.output);
  }

  log(message: string): void {
    this.output.info(message);
  }

  /** Registers a command once. Handlers never throw into VS Code: failures become an error message. */
  command(key: CommandKey, handler: (...args: unknown[]) => unknown): void {
    const { id, title } = COMMANDS[key];
    if (this.registered.has(id)) return;
    this.registered.add(id);
    this.disposables.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        if ((COMMANDS[key] as CommandInfo).trusted && !vscode.workspace.isTrusted) {
          // The manifest's enablement greys the command out in menus and the palette, but webview buttons
          // and executeCommand reach the handler anyway.
          this.output.warn(`${title}: refused in Restricted Mode (untrusted workspace)`);
          void vscode.window
            .showWarningMessage(`BPF-LSM: ${title} is not available in Restricted Mode: it compiles workspace code or runs a helper as root on the target. Trust this workspace to use it.`, 'Manage Workspace Trust')
            .then((pick) => pick && vscode.commands.executeCommand('workbench.trust.manage'));
          return undefined;
        }
        try {
          return await handler(...args);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          this.output.error(`${title}: ${message}`);
          void vscode.window.showErrorMessage(`BPF-LSM: ${title} failed: ${message}`, 'Show Output').then((pick) => {
            if (pick) this.output.show();
          });
          return undefined;
        }
      }),
    );
  }

  isRegistered(key: CommandKey): boolean {
    return this.registered.has(COMMANDS[key].id);
  }

  own(...items: vscode.Disposable[]): void {
    this.disposables.push(...items);
  }

  /** For objects whose teardown is asynchronous (a language client, a helper connection). */
  ownAsync(dispose: () => Promise<void>): void {
    this.asyncDisposers.push(dispose);
  }

  async disposeAsync(): Promise<void> {
    await Promise.allSettled(this.asyncDisposers.splice(0).map((d) => d()));
    this.dispose();
  }

  dispose(): void {
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}
