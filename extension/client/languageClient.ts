// Feature: the BPF-LSM language server (completion, hover and diagnostics for LSM hooks).
// Commands: bpfLsm.restartLanguageServer. Documents: C files named *.bpf.c, and other C files that use SEC("lsm...").
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { Studio } from './studio';
import { resolveTargetId } from '../core/targets';
import { kernelAssetsAt } from '../core/vm/kernel';
import { vmPaths } from '../core/vm/paths';
import { ServerSettings } from '../shared/hooks/serverSettings';

/**
 * The BTF the server answers from: the bpfLsm.btfPath setting; else, when the target is the built-in
 * VM, that VM's kernel image (it carries .BTF and its version banner); else undefined, which makes the
 * server read this machine's /sys/kernel/btf/vmlinux. SSH targets still use the local BTF: fetching
 * theirs (helper readBtf) is not wired here yet.
 */
function serverBtfPath(config: vscode.WorkspaceConfiguration): string | undefined {
  const configured = config.get<string>('btfPath');
  if (configured) return configured;
  try {
    if (resolveTargetId(config.get<string>('target') || 'auto') === 'vm') return kernelAssetsAt(vmPaths().kernel)?.vmlinux;
  } catch {
    // An invalid target setting is reported by the target feature; completion falls back to local BTF.
  }
  return undefined;
}

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
        btfPath: serverBtfPath(config),
        kernelSourcePath: config.get<string>('kernelSourcePath') || undefined,
      } satisfies ServerSettings,
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
  // A new target can mean another kernel: restart so the server reads that kernel's hooks.
  studio.own(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('bpfLsm.target') || !client) return;
      void stop()
        .then(start)
        .catch((err) => studio.output.error(`language server did not restart: ${err instanceof Error ? err.message : String(err)}`));
    }),
  );
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
