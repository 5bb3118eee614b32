// Feature: the BPF-LSM language server (completion, hover and diagnostics for LSM hooks).
// Commands: bpfLsm.restartLanguageServer. Documents: C files named *.bpf.c, and other C files that use SEC("lsm...").
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { Studio } from './studio';

export async function registerLanguageClient(studio: Studio): Promise<void> {
  let client: LanguageClient | undefined;

  const start = async (): Promise<void> => {
    const module = studio.context.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.stdio },
      debug: { module, transport: TransportKind.stdio, options: { execArgv: ['--inspect=6019'] } },
    };
    const config = vscode.workspace.getConfiguration('bpfLsm');
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'c' },
        { scheme: 'untitled', language: 'c' },
      ],
      outputChannel: studio.output,
      initializationOptions: {
        btfPath: config.get<string>('btfPath') || undefined,
        kernelSourcePath: config.get<string>('kernelSourcePath') || undefined,
      },
      synchronize: { configurationSection: 'bpfLsm' },
    };
    client = new LanguageClient('bpfLsm', 'BPF-LSM Language Server', serverOptions, clientOptions);
    await client.start();
  };

  const stop = async (): Promise<void> => {
    const c = client;
    client = undefined;
    if (c) await c.stop().catch(() => undefined);
  };

  studio.ownAsync(stop);
  studio.command('restartLanguageServer', async () => {
    await stop();
    await start();
    studio.log('language server restarted');
  });
  try {
    await start();
  } catch (err) {
    // Activation goes on without authoring features; the user sees why and can restart.
    studio.output.error(`language server did not start: ${err instanceof Error ? err.message : String(err)}`);
  }
}
