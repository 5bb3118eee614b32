// The Test Explorer in real VS Code: the exec blocker example, copied into the workspace, shows up as
// file -> scenario -> kernel items (6.1 and 6.12); an edit to the file adds a scenario without a reload;
// running one scenario on 6.1 passes, and a scenario that expects the wrong outcome fails with the
// expected-vs-happened message at its own line. Runs on the built-in VM (started when needed).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extensionUnderTest, waitFor, workspaceFolder } from './util';

interface Item {
  id: string;
  label: string;
  line?: number;
  error?: string;
  children: Item[];
}
interface Recorded {
  id: string;
  state: string;
  message?: string;
  uri?: string;
  line?: number;
}

const example = join(__dirname, '..', '..', '..', 'examples', 'exec-blocker');

describe('Test Explorer (scenario files)', function () {
  this.timeout(10 * 60_000);
  let dir: string;
  let file: string;
  const items = async () => (await vscode.commands.executeCommand('bpfLsm._testExplorerTest', 'items')) as Item[];
  const fileItem = async () => (await items()).find((i) => i.id === vscode.Uri.file(file).toString());

  before(async () => {
    await extensionUnderTest().activate();
    dir = join(workspaceFolder().fsPath, 'exec-blocker');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(example, 'exec_blocker.bpf.c'), join(dir, 'exec_blocker.bpf.c'));
    file = join(dir, 'exec-blocker.lsmtest.json');
    copyFileSync(join(example, 'exec-blocker.lsmtest.json'), file);
  });

  it('lists the example as file -> scenario -> kernel, and follows edits', async () => {
    const f = await waitFor(fileItem, 'the scenario file in the Test Explorer');
    const expected = JSON.parse(readFileSync(file, 'utf8')) as { scenarios: Array<{ name: string }> };
    assert.deepEqual(f.children.map((s) => s.label), expected.scenarios.map((s) => s.name));
    for (const s of f.children) assert.deepEqual(s.children.map((k) => k.label), ['6.1', '6.12']);
    const lines = readFileSync(file, 'utf8').split('\n');
    for (const s of f.children) assert.ok(lines[s.line! - 1].includes(JSON.stringify(s.label)), `scenario "${s.label}" is at its line ${s.line}`);

    const withWrong = JSON.parse(readFileSync(file, 'utf8'));
    withWrong.scenarios.push({ name: 'wrong on purpose: an unlisted binary expected to be denied', steps: [{ exec: ['/tmp/exec-blocker/allowed-cat', '/tmp/exec-blocker/hello.txt'], expect: 'EPERM' }] });
    writeFileSync(file, JSON.stringify(withWrong, null, 2) + '\n');
    await waitFor(async () => (await fileItem())?.children.length === expected.scenarios.length + 1, 'the added scenario to appear');
  });

  it('runs a scenario on 6.1 and shows a failure at its scenario line with what was expected and what happened', async () => {
    const f = (await fileItem())!;
    const pass = f.children.find((s) => s.label.startsWith('a listed binary (nc)'))!.children.find((k) => k.label === '6.1')!;
    const wrongScenario = f.children.find((s) => s.label.startsWith('wrong on purpose'))!;
    const wrong = wrongScenario.children.find((k) => k.label === '6.1')!;
    const results = (await vscode.commands.executeCommand('bpfLsm._testExplorerTest', 'run', [pass.id, wrong.id])) as Recorded[];
    assert.deepEqual(results.map((r) => [r.id, r.state]), [
      [pass.id, 'passed'],
      [wrong.id, 'failed'],
    ]);
    const failure = results[1];
    assert.equal(failure.uri, vscode.Uri.file(file).toString());
    assert.equal(failure.line, wrongScenario.line);
    assert.match(readFileSync(file, 'utf8').split('\n')[failure.line! - 1], /wrong on purpose/);
    assert.match(failure.message!, /^exec \/tmp\/exec-blocker\/allowed-cat \/tmp\/exec-blocker\/hello\.txt as root on 6\.1: expected EPERM, got exit 0/);
  });
});
