// Feature: the BPF-LSM language server (completion, hover and diagnostics for LSM hooks).
// Commands: bpfLsm.restartLanguageServer. Documents: C files named *.bpf.c, and other C files that use SEC("lsm...").
// The server answers for the target's kernel (see chooseBtf) and restarts when the target changes; it also
// checks hooks against every kernel of bpfLsm.kernelMatrix (resolved here to BTF files, see resolveKernelMatrix).
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { Studio } from './studio';
import { MatrixKernel, ServerSettings } from '../shared/hooks/serverSettings';
import { HookReferenceRequest, type HookReferenceResult, type ParamsOf } from '../shared/lspExt';
import { createTarget, parseTargetId, resolveTargetId } from '../core/targets';
import type { Target } from '../core/target';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';

/** Which kernel the server should answer for, and whether the target's BTF should be (re)read. */
interface BtfChoice {
  readonly btfPath?: string;
  readonly kernelVersion?: string;
  /** A target whose BTF is read in the background (then the server restarts on it when it changed). */
  readonly fetchFrom?: Target;
}

/**
 * The BTF the server answers from: the bpfLsm.btfPath setting; else the target's kernel as far as it is
 * known without reaching the target (the built-in VM's kernel image, this machine's BTF, or the copy last
 * read from a remote target, refreshed in the background); else undefined, which makes the server read
 * this machine's /sys/kernel/btf/vmlinux. In an untrusted workspace always the latter: no setting names a file
 * to read and no target is contacted (the manifest's restrictedConfigurations already hide the workspace's
 * values; this keeps the user's own ssh target from being reached on a workspace's behalf too).
 */
function chooseBtf(config: vscode.WorkspaceConfiguration): BtfChoice {
  if (!vscode.workspace.isTrusted) return {};
  const configured = config.get<string>('btfPath');
  if (configured) return { btfPath: configured };
  let target: Target;
  try {
    target = createTarget(resolveTargetId(config.get<string>('target') || 'auto'));
  } catch {
    // An invalid target setting is reported by the target feature; completion falls back to local BTF.
    return {};
  }
  const local = target.kernel.localBtf();
  if (local) return { btfPath: local.path, kernelVersion: local.banner };
  const last = target.kernel.lastBtf();
  // Reading it needs the target up; this machine's kernel is never read the long way round.
  const fetchFrom = target.stopped() || target.sharesThisMachine ? undefined : target;
  return { ...(last ? { btfPath: last.path, kernelVersion: last.banner } : {}), ...(fetchFrom ? { fetchFrom } : {}) };
}

/**
 * bpfLsm.kernelMatrix resolved to BTF files: a target id (`vm`, `vm:6.12`, `ssh:<host>`, `local`) to that
 * target's kernel as far as it is known here without reaching it (the VM kernel's image, the copy last read
 * from an ssh target), anything else as a BTF file path. Entries whose BTF is not here yet are left out with a
 * message that says how to get it.
 */
export function resolveKernelMatrix(entries: readonly string[], warn: (m: string) => void): MatrixKernel[] {
  const out: MatrixKernel[] = [];
  for (const entry of entries) {
    const e = entry.trim();
    if (!e) continue;
    let target: Target | undefined;
    try {
      if (parseTargetId(e).kind !== 'auto') target = createTarget(e);
    } catch (err) {
      // Not a target id: a BTF file path, unless there is no such file either.
      if (!existsSync(e)) {
        warn(`kernel matrix: ${err instanceof Error ? err.message : String(err)}; or give a BTF file path`);
        continue;
      }
    }
    if (target) {
      const btf = target.kernel.localBtf() ?? target.kernel.lastBtf();
      if (btf) out.push({ label: target.kernel.name, btfPath: btf.path, ...(btf.banner ? { kernelVersion: btf.banner } : {}) });
      else warn(`kernel matrix: no BTF of ${e} here yet; ${target.kernel.btfAdvice}, then restart the language server`);
    } else if (existsSync(e)) out.push({ label: basename(e), btfPath: e });
    else warn(`kernel matrix: ${e} is not a file; give a BTF file path, vm, vm:6.12 or ssh:<host>`);
  }
  return out;
}

/** What other features ask the language server, which owns hooks (the tracing panel's hook reference). */
export interface LanguageServer {
  /** The hook's reference on the server's kernel: exactly what hover says on the hook, and it as a C header. */
  hookReference(hook: string): Promise<HookReferenceResult>;
}

const servers = new WeakMap<Studio, LanguageServer>();

/** The language server of this extension instance, once registerLanguageClient ran. */
export function languageServer(studio: Studio): LanguageServer | undefined {
  return servers.get(studio);
}

export async function registerLanguageClient(studio: Studio): Promise<void> {
  let client: LanguageClient | undefined;
  /** The current start (or restart), so a request made meanwhile waits for the server instead of failing. */
  let starting: Promise<void> | undefined;
  servers.set(studio, {
    hookReference: async (hook) => {
      await starting?.catch(() => undefined);
      if (!client) throw new Error('the BPF-LSM language server is not running (its output channel says why); run "BPF-LSM: Restart Language Server"');
      return client.sendRequest<HookReferenceResult>(HookReferenceRequest.method, { hook } satisfies ParamsOf<typeof HookReferenceRequest>);
    },
  });
  /** Targets whose BTF was already read in this session: one round trip per target, not per restart. */
  const fetched = new Set<string>();

  const startServer = async (): Promise<void> => {
    const module = studio.context.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.stdio },
      debug: { module, transport: TransportKind.stdio, options: { execArgv: ['--inspect=6019'] } },
    };
    const config = vscode.workspace.getConfiguration('bpfLsm');
    const choice = chooseBtf(config);
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'c' },
        { scheme: 'untitled', language: 'c' },
      ],
      outputChannel: studio.output,
      initializationOptions: {
        btfPath: choice.btfPath,
        kernelVersion: choice.kernelVersion,
        kernelSourcePath: (vscode.workspace.isTrusted && config.get<string>('kernelSourcePath')) || undefined,
        // In Restricted Mode no setting names a file to read (the matrix may name BTF paths).
        matrix: vscode.workspace.isTrusted ? resolveKernelMatrix(config.get<string[]>('kernelMatrix') ?? [], (m) => studio.output.warn(m)) : [],
        restricted: !vscode.workspace.isTrusted,
      } satisfies ServerSettings,
      synchronize: { configurationSection: 'bpfLsm' },
    };
    client = new LanguageClient('bpfLsm', 'BPF-LSM Language Server', serverOptions, clientOptions);
    await client.start();
    if (choice.fetchFrom && !fetched.has(choice.fetchFrom.id)) {
      fetched.add(choice.fetchFrom.id);
      void refreshTargetBtf(choice.fetchFrom, choice.btfPath);
    }
  };
  const start = (): Promise<void> => (starting = startServer());

  /** Reads a remote target's BTF and restarts the server on it when it differs from the copy in use. */
  const refreshTargetBtf = async (target: Target, inUse: string | undefined): Promise<void> => {
    try {
      const got = await target.kernel.btf();
      if (got.path === inUse) return;
      studio.log(`hook catalog: read ${(got.bytes.length / 2 ** 20).toFixed(1)} MiB of BTF from ${got.what}`);
      if (client) {
        await stop();
        await start();
      }
    } catch (err) {
      studio.output.warn(`hook catalog: ${err instanceof Error ? err.message : String(err)}; completion uses ${inUse ? 'the copy read earlier' : "this machine's BTF"} meanwhile`);
    }
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
      if (!(e.affectsConfiguration('bpfLsm.target') || e.affectsConfiguration('bpfLsm.kernelMatrix')) || !client) return;
      void stop()
        .then(start)
        .catch((err) => studio.output.error(`language server did not restart: ${err instanceof Error ? err.message : String(err)}`));
    }),
  );
  // Trust granted: the workspace's target and BTF settings now count.
  studio.own(
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      if (!client) return;
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
