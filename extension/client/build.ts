// Feature: Build Probe and Load Probe.
// Commands: bpfLsm.buildProbe (optional argument: the probe's Uri; default the active *.bpf.c editor),
// bpfLsm.loadProbe (same argument; builds first). Task type "bpf-lsm" (one "Build Probe" task per
// *.bpf.c, problem matcher $bpf-lsm) for people who prefer tasks and keybindings.
// Compile errors and verifier rejections go to the Problems view (sources "clang" and "bpf verifier"),
// the full clang output and verifier log to the output channel. Section names that do not match a hook of
// the target kernel are flagged before a load is tried.
import * as vscode from 'vscode';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Studio } from './studio';
import { TargetService } from './targets';
import { ProbeSessions } from './loadSession';
import { buildForTarget } from '../core/probes/target';
import { objectName, type CompileDiagnostic } from '../core/probes/probe';
import { checkSections, loadProbe } from '../core/probes/load';
import { formatVerifierDiagnostic } from '../core/verifier/diagnose';
import { catalogFromFile, type HookCatalog } from '../shared/hooks/catalog';
import { offerToStartVm } from './vm';

const SEVERITY: Record<CompileDiagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  note: vscode.DiagnosticSeverity.Information,
};

/** Where the probe is built for: the BTF of the target's kernel (or the bpfLsm.btfPath override). */
async function btfForBuild(targets: TargetService): Promise<{ path: string; what: string }> {
  const configured = vscode.workspace.getConfiguration('bpfLsm').get<string>('btfPath');
  if (configured) return { path: configured, what: `bpfLsm.btfPath (${configured})` };
  return targets.target.kernel.buildBtf();
}

/** The hooks a probe's sections are checked against: the target kernel's catalog (or the override's). */
async function catalogForLoad(targets: TargetService, btf: { path: string }): Promise<HookCatalog> {
  const configured = vscode.workspace.getConfiguration('bpfLsm').get<string>('btfPath');
  return configured ? catalogFromFile(btf.path) : targets.target.kernel.catalog();
}

function probeUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  const doc = vscode.window.activeTextEditor?.document;
  if (doc && doc.uri.scheme === 'file' && doc.fileName.endsWith('.bpf.c')) return doc.uri;
  return undefined;
}

export function registerBuild(studio: Studio, targets: TargetService): ProbeSessions {
  const compileProblems = vscode.languages.createDiagnosticCollection('bpf-lsm-build');
  const verifierProblems = vscode.languages.createDiagnosticCollection('bpf-lsm-verifier');
  const sessions = new ProbeSessions(studio, targets);
  studio.own(compileProblems, verifierProblems, sessions);
  studio.ownAsync(() => sessions.closeAll());

  async function build(arg: unknown): Promise<{ uri: vscode.Uri; objectPath: string } | undefined> {
    const uri = probeUri(arg);
    if (!uri) {
      void vscode.window.showInformationMessage('BPF-LSM: open a *.bpf.c probe (or pick one in the explorer) to build it.');
      return undefined;
    }
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (doc?.isDirty) await doc.save();
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'BPF-LSM: building probe' }, async () => {
      const btf = await btfForBuild(targets);
      const b = await buildForTarget(uri.fsPath, btf.path, { fallbackTarget: targets.target });
      studio.log(`build ${uri.fsPath} for ${btf.what}: ${b.command.join(' ')}`);
      if (b.output.trim()) studio.output.appendLine(b.output.trimEnd());
      // Diagnostics of every file clang named (headers included), replacing this probe's previous ones.
      compileProblems.clear();
      verifierProblems.delete(uri);
      const byFile = new Map<string, vscode.Diagnostic[]>();
      for (const d of b.diagnostics) {
        const range = new vscode.Range(d.line - 1, Math.max(0, d.column - 1), d.line - 1, Number.MAX_SAFE_INTEGER);
        const diag = new vscode.Diagnostic(range, d.message, SEVERITY[d.severity]);
        diag.source = 'clang';
        byFile.set(d.file, [...(byFile.get(d.file) ?? []), diag]);
      }
      for (const [file, diags] of byFile) compileProblems.set(vscode.Uri.file(file), diags);
      if (!b.ok) {
        const errors = b.diagnostics.filter((d) => d.severity === 'error').length;
        void vscode.window.showErrorMessage(`BPF-LSM: ${vscode.workspace.asRelativePath(uri)} does not compile (${errors} error${errors === 1 ? '' : 's'}); see Problems.`);
        return undefined;
      }
      studio.log(`built ${b.objectPath}`);
      return { uri, objectPath: b.objectPath };
    });
  }

  studio.command('buildProbe', async (arg) => {
    const built = await build(arg);
    if (built) void vscode.window.setStatusBarMessage(`$(check) BPF-LSM: built ${vscode.workspace.asRelativePath(built.objectPath)}`, 5000);
    return built?.objectPath;
  });

  studio.command('loadProbe', async (arg) => {
    if (offerToStartVm(targets, 'probes load on its kernel', 'Start VM and Load', 'bpfLsm.loadProbe', arg)) return undefined;
    const built = await build(arg);
    if (!built) return undefined;
    const { uri, objectPath } = built;
    const source = readFileSync(uri.fsPath, 'utf8');
    const btf = await btfForBuild(targets);
    const warnings = checkSections(source, await catalogForLoad(targets, btf)).map((w) => {
      const d = new vscode.Diagnostic(new vscode.Range(w.line - 1, 0, w.line - 1, Number.MAX_SAFE_INTEGER), w.message, vscode.DiagnosticSeverity.Warning);
      d.source = 'bpf-lsm';
      return d;
    });
    verifierProblems.set(uri, warnings);
    const client = await sessions.client();
    const r = await loadProbe(client, objectPath, { name: objectName(objectPath) });
    if (r.ok) {
      sessions.remember(r.object.objectId, uri, r.logs);
      const failed = r.attach.filter((a) => !a.ok);
      for (const a of failed) studio.output.error(`attaching ${a.program} failed: ${a.message ?? a.code}`);
      const msg = `loaded ${r.object.programs.map((p) => p.name).join(', ')} on ${targets.id}${failed.length ? `; ${failed.length} failed to attach (see output)` : ', attached'}`;
      studio.log(msg);
      void (failed.length ? vscode.window.showWarningMessage(`BPF-LSM: ${msg}`) : vscode.window.setStatusBarMessage(`$(check) BPF-LSM: ${msg}`, 5000));
      return r.object.objectId;
    }
    if (!r.rejected) throw new Error(`${r.message}${r.remedy ? `. ${r.remedy}` : ''}`);
    studio.output.error(`verifier log of ${r.program ?? objectPath}:\n${r.log}`);
    const d = r.diagnostic;
    if (d) {
      studio.output.error(formatVerifierDiagnostic(d, uri.fsPath));
      const file = d.file && existsSync(d.file) ? vscode.Uri.file(d.file) : uri;
      const line = Math.max(0, (d.line ?? 1) - 1);
      const diag = new vscode.Diagnostic(
        new vscode.Range(line, Math.max(0, d.column - 1), line, Number.MAX_SAFE_INTEGER),
        `${d.failure.message}\n${d.failure.explanation}${d.failure.registers ? `\nregisters: ${d.failure.registers}` : ''}`,
        vscode.DiagnosticSeverity.Error,
      );
      diag.source = 'bpf verifier';
      if (d.failure.insn !== undefined) diag.code = `insn ${d.failure.insn}`;
      verifierProblems.set(file, [...(file.toString() === uri.toString() ? warnings : verifierProblems.get(file) ?? []), diag]);
    }
    void vscode.window.showErrorMessage(`BPF-LSM: the verifier rejected ${r.program ?? 'the probe'}: ${d?.failure.message.split('\n')[0] ?? r.message}`, 'Show Log').then((p) => {
      if (p) studio.output.show();
    });
    return undefined;
  });

  studio.own(
    vscode.tasks.registerTaskProvider('bpf-lsm', {
      provideTasks: async () => {
        const files = await vscode.workspace.findFiles('**/*.bpf.c', '**/node_modules/**', 200);
        return files.map((f) => buildTask(studio, f.fsPath, targets.configuredId));
      },
      resolveTask: (task) => {
        const file = (task.definition as { file?: string }).file;
        return file ? buildTask(studio, file, targets.configuredId, task.definition) : undefined;
      },
    }),
  );
  return sessions;
}

function buildTask(studio: Studio, file: string, target: string, definition?: vscode.TaskDefinition): vscode.Task {
  const cli = join(studio.context.extensionPath, 'dist', 'cli.js');
  const task = new vscode.Task(
    definition ?? { type: 'bpf-lsm', file },
    vscode.TaskScope.Workspace,
    `Build Probe: ${vscode.workspace.asRelativePath(file)}`,
    'bpf-lsm',
    new vscode.ProcessExecution(process.execPath, [cli, 'build', '--target', target, file], { env: { ELECTRON_RUN_AS_NODE: '1' } }),
    '$bpf-lsm',
  );
  task.group = vscode.TaskGroup.Build;
  return task;
}
