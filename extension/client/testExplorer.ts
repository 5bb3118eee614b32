// Feature: scenario files (*.lsmtest.json) in VS Code's Test Explorer. A TestController finds the files in
// the workspace (and re-reads them on every edit and save), shows file -> scenario -> kernel items, runs
// them on the built-in VM's kernels through the same runner as `bpf-lsm test` (run profile "Run on the
// built-in VM", cancellable), and reports a failure at its scenario's line with the expected-vs-happened
// message; progress and results go to the Test Results output. A file that does not parse shows its error
// on the file item. Test-only: bpfLsm._testExplorerTest (items, run), registered only under extension tests.
//
// Lifetimes: the controller and its watchers live as long as the extension; a run owns its AbortController.
import * as vscode from 'vscode';
import { parseScenarioFile, SCENARIO_FILE_SUFFIX, ScenarioFileError, type ScenarioFile } from '../core/testing/scenarioFile';
import { runScenarioFiles, type CaseResult } from '../core/testing/runner';
import { DEFAULT_VM_KERNEL, type VmKernel } from '../core/vm/kernels';
import type { Studio } from './studio';

const TEST_COMMAND = 'bpfLsm._testExplorerTest';

interface CaseRef {
  readonly file: ScenarioFile;
  readonly uri: vscode.Uri;
  readonly scenario: string;
  readonly kernel: VmKernel;
}

/** What the test-only command reports of a run. */
interface RecordedResult {
  readonly id: string;
  readonly state: 'passed' | 'failed' | 'skipped' | 'errored';
  readonly message?: string;
  readonly uri?: string;
  readonly line?: number;
}

export function registerTestExplorer(studio: Studio): void {
  const controller = vscode.tests.createTestController('bpfLsm.scenarios', 'BPF-LSM Scenarios');
  studio.own(controller);
  const files = new Map<string, ScenarioFile>();
  const cases = new WeakMap<vscode.TestItem, CaseRef>();

  const update = (uri: vscode.Uri, text: string) => {
    const id = uri.toString();
    const label = vscode.workspace.asRelativePath(uri);
    let item = controller.items.get(id);
    if (!item) {
      item = controller.createTestItem(id, label, uri);
      controller.items.add(item);
    }
    let file: ScenarioFile;
    try {
      file = parseScenarioFile(text, uri.fsPath);
    } catch (err) {
      item.error = err instanceof ScenarioFileError ? new vscode.MarkdownString().appendText(`line ${err.line}: ${err.message.slice(err.message.indexOf(': ', err.file.length) + 2)}`) : String(err);
      item.children.replace([]);
      files.delete(id);
      return;
    }
    item.error = undefined;
    files.set(id, file);
    const kernels = file.kernels ?? [DEFAULT_VM_KERNEL];
    item.children.replace(
      file.scenarios.map((s) => {
        const range = new vscode.Range(s.line - 1, 0, s.line - 1, 0);
        const scenario = controller.createTestItem(`${id}#${s.name}`, s.name, uri);
        scenario.range = range;
        scenario.children.replace(
          kernels.map((k) => {
            const leaf = controller.createTestItem(`${id}#${s.name}#${k}`, k, uri);
            leaf.range = range;
            cases.set(leaf, { file, uri, scenario: s.name, kernel: k });
            return leaf;
          }),
        );
        return scenario;
      }),
    );
  };
  const readFile = async (uri: vscode.Uri) => {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    update(uri, open ? open.getText() : Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8'));
  };
  const discover = async () => {
    for (const uri of await vscode.workspace.findFiles(`**/*${SCENARIO_FILE_SUFFIX}`, '**/node_modules/**')) await readFile(uri).catch((e) => studio.log(`Test Explorer: ${uri.fsPath}: ${String(e)}`));
  };
  controller.resolveHandler = async (item) => {
    if (!item) await discover();
  };
  controller.refreshHandler = async () => {
    controller.items.replace([]);
    files.clear();
    await discover();
  };
  const watcher = vscode.workspace.createFileSystemWatcher(`**/*${SCENARIO_FILE_SUFFIX}`);
  studio.own(
    watcher,
    watcher.onDidCreate((uri) => void readFile(uri)),
    watcher.onDidChange((uri) => void readFile(uri)),
    watcher.onDidDelete((uri) => {
      controller.items.delete(uri.toString());
      files.delete(uri.toString());
    }),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document.uri.path.endsWith(SCENARIO_FILE_SUFFIX)) update(e.document.uri, e.document.getText());
    }),
  );

  /** The leaf (kernel) items a request covers. */
  const leaves = (request: vscode.TestRunRequest): vscode.TestItem[] => {
    const out: vscode.TestItem[] = [];
    const excluded = new Set((request.exclude ?? []).map((i) => i.id));
    const walk = (item: vscode.TestItem) => {
      if (excluded.has(item.id)) return;
      if (cases.has(item)) out.push(item);
      item.children.forEach(walk);
    };
    if (request.include) request.include.forEach(walk);
    else controller.items.forEach(walk);
    return out;
  };

  const run = async (request: vscode.TestRunRequest, token: vscode.CancellationToken, record?: (r: RecordedResult) => void): Promise<void> => {
    const testRun = controller.createTestRun(request);
    const items = leaves(request);
    const abort = new AbortController();
    const cancel = token.onCancellationRequested(() => abort.abort());
    const byKey = new Map(items.map((i) => [key(cases.get(i)!), i]));
    const done = new Set<vscode.TestItem>();
    try {
      if (!vscode.workspace.isTrusted) {
        const message = 'running scenarios builds workspace code and loads it through a root helper: trust this workspace first';
        for (const i of items) {
          testRun.errored(i, new vscode.TestMessage(message));
          record?.({ id: i.id, state: 'errored', message });
        }
        return;
      }
      for (const i of items) testRun.enqueued(i);
      const byFile = new Map<string, vscode.TestItem[]>();
      for (const i of items) byFile.set(cases.get(i)!.uri.toString(), [...(byFile.get(cases.get(i)!.uri.toString()) ?? []), i]);
      for (const group of byFile.values()) {
        const file = cases.get(group[0])!.file;
        const kernels = [...new Set(group.map((i) => cases.get(i)!.kernel))];
        const wanted = new Set(group.map((i) => key(cases.get(i)!)));
        for (const i of group) testRun.started(i);
        await runScenarioFiles([file], {
          kernels,
          include: (f, scenario, kernel) => wanted.has(`${f}#${scenario}#${kernel}`),
          signal: abort.signal,
          progress: (m) => testRun.appendOutput(`${m}\r\n`),
          onResult: (r: CaseResult) => {
            const item = byKey.get(`${r.file}#${r.scenario}#${r.kernel}`);
            if (!item) return;
            done.add(item);
            const uri = cases.get(item)!.uri;
            testRun.appendOutput(`${r.passed ? 'ok  ' : 'FAIL'} ${r.kernel} ${r.scenario} (${(r.durationMs / 1000).toFixed(1)} s)\r\n`, undefined, item);
            if (r.passed) {
              testRun.passed(item, r.durationMs);
              record?.({ id: item.id, state: 'passed' });
            } else {
              const message = new vscode.TestMessage(r.message!);
              message.location = new vscode.Location(uri, new vscode.Position(r.line - 1, 0));
              testRun.appendOutput(`${r.message!.replace(/\n/g, '\r\n')}\r\n`, message.location, item);
              testRun.failed(item, message, r.durationMs);
              record?.({ id: item.id, state: 'failed', message: r.message, uri: uri.toString(), line: r.line });
            }
          },
        });
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      testRun.appendOutput(`${message}\r\n`);
      for (const i of items) if (!done.has(i)) {
        testRun.errored(i, new vscode.TestMessage(message));
        done.add(i);
        record?.({ id: i.id, state: 'errored', message });
      }
    } finally {
      // Cancelled (or never reached): skipped, so nothing stays spinning.
      for (const i of items) if (!done.has(i)) {
        testRun.skipped(i);
        record?.({ id: i.id, state: 'skipped' });
      }
      cancel.dispose();
      testRun.end();
    }
  };
  controller.createRunProfile('Run on the built-in VM', vscode.TestRunProfileKind.Run, (request, token) => run(request, token), true);
  void discover();

  if (process.env.BPF_LSM_TEST || studio.context.extensionMode === vscode.ExtensionMode.Test) {
    studio.own(
      vscode.commands.registerCommand(TEST_COMMAND, async (op: string, arg?: unknown) => {
        if (op === 'items') {
          await discover();
          const tree = (item: vscode.TestItem): unknown => ({ id: item.id, label: item.label, line: item.range ? item.range.start.line + 1 : undefined, error: item.error ? String(typeof item.error === 'string' ? item.error : item.error.value) : undefined, children: mapItems(item.children, tree) });
          return mapItems(controller.items, tree);
        }
        if (op === 'run') {
          const ids = new Set(arg as string[]);
          const found: vscode.TestItem[] = [];
          const walk = (i: vscode.TestItem) => {
            if (ids.has(i.id)) found.push(i);
            i.children.forEach(walk);
          };
          controller.items.forEach(walk);
          const results: RecordedResult[] = [];
          const source = new vscode.CancellationTokenSource();
          await run(new vscode.TestRunRequest(found), source.token, (r) => results.push(r));
          source.dispose();
          return results;
        }
        throw new Error(`unknown test operation ${op}`);
      }),
    );
  }
}

const key = (c: CaseRef) => `${c.file.path}#${c.scenario}#${c.kernel}`;

function mapItems<T>(items: vscode.TestItemCollection, f: (i: vscode.TestItem) => T): T[] {
  const out: T[] = [];
  items.forEach((i) => out.push(f(i)));
  return out;
}
