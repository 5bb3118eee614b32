// Feature: the BPF-LSM language server (completion, hover and diagnostics for LSM hooks).
// Commands: bpfLsm.restartLanguageServer. Documents: C files named *.bpf.c, and other C files that use SEC("lsm...").
// The server answers for the target's kernel (see chooseBtf) and restarts when the target changes; it also
// checks hooks against every kernel of bpfLsm.kernelMatrix (resolved here to BTF files, see resolveKernelMatrix).
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { Studio } from './studio';
import { kernelAssetsAt } from '../core/vm/kernel';
import { vmPaths } from '../core/vm/paths';
import { MatrixKernel, ServerSettings } from '../shared/hooks/serverSettings';
import { fetchTargetBtf } from '../shared/hooks/targetBtf';
import { createTarget, resolveTargetId, vmKernelOf } from '../core/targets';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Which kernel the server should answer for, and whether a target's BTF should be (re)fetched. */
interface BtfChoice {
  readonly btfPath?: string;
  readonly kernelVersion?: string;
  /** An ssh target whose BTF is read over ssh in the background (then the server restarts on it). */
  readonly fetchFrom?: string;
}

function cachedBtfFiles(storage: string, targetId: string): { btf: string; banner: string } {
  const base = join(storage, 'target-btf', targetId.replace(/[^A-Za-z0-9_.-]/g, '_'));
  return { btf: `${base}.btf`, banner: `${base}.banner` };
}

/**
 * The BTF the server answers from: the bpfLsm.btfPath setting; else the target's kernel: for the
 * built-in VM its kernel image (it carries .BTF and its version banner), for an ssh target the copy
 * last read from it (refreshed in the background); else undefined, which makes the server read this
 * machine's /sys/kernel/btf/vmlinux. In an untrusted workspace always the latter: no setting names a file
 * to read and no target is contacted (the manifest's restrictedConfigurations already hide the workspace's
 * values; this keeps the user's own ssh target from being reached on a workspace's behalf too).
 */
function chooseBtf(config: vscode.WorkspaceConfiguration, storage: string): BtfChoice {
  if (!vscode.workspace.isTrusted) return {};
  const configured = config.get<string>('btfPath');
  if (configured) return { btfPath: configured };
  let id: string;
  try {
    id = resolveTargetId(config.get<string>('target') || 'auto');
  } catch {
    // An invalid target setting is reported by the target feature; completion falls back to local BTF.
    return {};
  }
  const kernel = vmKernelOf(id);
  if (kernel) return { btfPath: kernelAssetsAt(vmPaths(process.env, kernel).kernel, kernel)?.vmlinux };
  if (id.startsWith('ssh:')) {
    const files = cachedBtfFiles(storage, id);
    if (existsSync(files.btf) && existsSync(files.banner)) return { btfPath: files.btf, kernelVersion: readFileSync(files.banner, 'utf8'), fetchFrom: id };
    return { fetchFrom: id };
  }
  return {};
}

/**
 * bpfLsm.kernelMatrix resolved to BTF files: `vm:<kernel>` (or `vm`) to that VM kernel's image in the cache,
 * `ssh:<host>` to the copy read from that target, anything else as a BTF file path. Entries whose BTF is
 * not here yet are left out with a message that says how to get it.
 */
export function resolveKernelMatrix(entries: readonly string[], storage: string, warn: (m: string) => void): MatrixKernel[] {
  const out: MatrixKernel[] = [];
  for (const entry of entries) {
    const e = entry.trim();
    if (!e) continue;
    const kernel = e === 'vm' || e.startsWith('vm:') ? vmKernelOf(e) : undefined;
    if (e === 'vm' || e.startsWith('vm:')) {
      if (!kernel) {
        warn(`kernel matrix: "${e}" names no kernel of the built-in VM (use vm:6.1 or vm:6.12)`);
        continue;
      }
      const assets = kernelAssetsAt(vmPaths(process.env, kernel).kernel, kernel);
      if (assets) out.push({ label: kernel, btfPath: assets.vmlinux });
      else warn(`kernel matrix: the built-in VM's ${kernel} kernel is not prepared yet; run \`bpf-lsm vm up --kernel ${kernel}\` once, then restart the language server`);
    } else if (e.startsWith('ssh:')) {
      const files = cachedBtfFiles(storage, e);
      if (existsSync(files.btf)) out.push({ label: e.slice(4), btfPath: files.btf, kernelVersion: existsSync(files.banner) ? readFileSync(files.banner, 'utf8') : undefined });
      else warn(`kernel matrix: no BTF of ${e} here yet; select it as the target once (BPF-LSM: Select Target) so its BTF is read`);
    } else if (existsSync(e)) out.push({ label: basename(e), btfPath: e });
    else warn(`kernel matrix: ${e} is not a file; give a BTF file path, vm:6.1, vm:6.12 or ssh:<host>`);
  }
  return out;
}

export async function registerLanguageClient(studio: Studio): Promise<void> {
  let client: LanguageClient | undefined;
  /** Targets whose BTF was already read in this session: one ssh round trip per target, not per restart. */
  const fetched = new Set<string>();
  const storage = studio.context.globalStorageUri.fsPath;

  const start = async (): Promise<void> => {
    const module = studio.context.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.stdio },
      debug: { module, transport: TransportKind.stdio, options: { execArgv: ['--inspect=6019'] } },
    };
    const config = vscode.workspace.getConfiguration('bpfLsm');
    const choice = chooseBtf(config, storage);
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
        matrix: vscode.workspace.isTrusted ? resolveKernelMatrix(config.get<string[]>('kernelMatrix') ?? [], storage, (m) => studio.output.warn(m)) : [],
        restricted: !vscode.workspace.isTrusted,
      } satisfies ServerSettings,
      synchronize: { configurationSection: 'bpfLsm' },
    };
    client = new LanguageClient('bpfLsm', 'BPF-LSM Language Server', serverOptions, clientOptions);
    await client.start();
    if (choice.fetchFrom && !fetched.has(choice.fetchFrom)) {
      fetched.add(choice.fetchFrom);
      void refreshTargetBtf(choice.fetchFrom);
    }
  };

  /** Reads an ssh target's BTF and restarts the server on it when it differs from the copy in use. */
  const refreshTargetBtf = async (id: string): Promise<void> => {
    try {
      const target = createTarget(id);
      const got = await fetchTargetBtf((program, args, options) => target.exec(program, args, options), id);
      const files = cachedBtfFiles(storage, id);
      if (existsSync(files.btf) && readFileSync(files.btf).equals(got.btf)) return;
      mkdirSync(dirname(files.btf), { recursive: true });
      writeFileSync(files.btf, got.btf);
      writeFileSync(files.banner, got.banner);
      studio.log(`hook catalog: read ${(got.btf.length / 2 ** 20).toFixed(1)} MiB of BTF from ${id} (${got.banner.split(' ').slice(0, 3).join(' ')})`);
      if (client) {
        await stop();
        await start();
      }
    } catch (err) {
      studio.output.warn(`hook catalog: ${err instanceof Error ? err.message : String(err)}; completion uses ${existsSync(cachedBtfFiles(storage, id).btf) ? 'the copy read earlier' : "this machine's BTF"} meanwhile`);
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
