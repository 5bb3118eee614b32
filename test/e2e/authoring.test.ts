// Authoring in real VS Code: hook completion with the kernel's stub, hover on a hook, and a squiggle on
// an unknown hook, through the same provider commands the editor uses. bpfLsm.btfPath points the server
// at this machine's /sys/kernel/btf/vmlinux (6.18 here), then at Debian's 6.1 kernel image.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { debian61Vmlinux } from '../fixtures/kernels';
import { openFixture, waitFor } from './util';

const STUB = 'int BPF_PROG(file_open, struct file *file, int ret)';

function hoverText(hovers: vscode.Hover[]): string {
  return hovers
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : c.value))
    .join('\n');
}

/** Appends `SEC("lsm/")` on a fresh last line and returns the position right after `lsm/`. */
async function freshSecLine(editor: vscode.TextEditor): Promise<vscode.Position> {
  const doc = editor.document;
  const end = doc.lineAt(doc.lineCount - 1).range.end;
  const ok = await editor.edit((b) => b.insert(end, '\nSEC("lsm/")\n'));
  assert.ok(ok, 'the edit applied');
  const line = doc.lineCount - 2;
  assert.equal(doc.lineAt(line).text, 'SEC("lsm/")');
  return new vscode.Position(line, 'SEC("lsm/'.length);
}

async function completions(doc: vscode.TextDocument, pos: vscode.Position, predicate: (items: vscode.CompletionItem[]) => boolean, what: string): Promise<vscode.CompletionItem[]> {
  return waitFor(async () => {
    const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', doc.uri, pos, '/');
    return list && predicate(list.items) ? list.items : undefined;
  }, what, 60_000);
}

function label(item: vscode.CompletionItem): string {
  return typeof item.label === 'string' ? item.label : item.label.label;
}

async function insertsStub(editor: vscode.TextEditor): Promise<void> {
  const doc = editor.document;
  const pos = await freshSecLine(editor);
  const items = await completions(doc, pos, (xs) => xs.some((i) => label(i) === 'file_open'), 'file_open in hook completion');
  const item = items.find((i) => label(i) === 'file_open')!;
  const snippet = item.insertText instanceof vscode.SnippetString ? item.insertText.value : String(item.insertText);
  assert.ok(snippet.includes(STUB), snippet);
  const range = item.range instanceof vscode.Range ? item.range : item.range!.replacing;
  assert.ok(await editor.insertSnippet(new vscode.SnippetString(snippet), range), 'the snippet was inserted');
  await waitFor(() => doc.getText().includes(`SEC("lsm/file_open")\n${STUB}\n{`), 'the inserted stub in the document');
}

describe('authoring: hooks from BTF in real VS Code', () => {
  after(async () => {
    await vscode.workspace.getConfiguration('bpfLsm').update('btfPath', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('completes file_open at SEC("lsm/ and inserts the BPF_PROG stub (this machine\'s 6.18 BTF)', async () => {
    // Explicit, because with the built-in VM as target the default would be the VM's kernel.
    await vscode.workspace.getConfiguration('bpfLsm').update('btfPath', '/sys/kernel/btf/vmlinux', vscode.ConfigurationTarget.Global);
    const editor = await openFixture('probe.bpf.c');
    const pos = await freshSecLine(editor);
    await completions(
      editor.document,
      pos,
      (xs) => xs.some((i) => label(i) === 'bpf_map_create') && !xs.some((i) => label(i) === 'bpf_map_alloc_security'),
      'the 6.18 hook set in completion',
    );
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    await insertsStub(await openFixture('probe.bpf.c'));
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('shows the signature of bprm_check_security on hover', async () => {
    const editor = await openFixture('probe.bpf.c');
    const text = editor.document.getText();
    const pos = editor.document.positionAt(text.indexOf('bprm_check_security') + 4);
    const hovers = await waitFor(async () => {
      const hs = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', editor.document.uri, pos);
      return hs && hoverText(hs).includes('bprm_check_security(') ? hs : undefined;
    }, 'a hover on bprm_check_security', 60_000);
    const md = hoverText(hovers);
    assert.match(md, /int bprm_check_security\(struct linux_binprm \*bprm\)/);
    assert.match(md, /Sleepable:\*\* yes/);
  });

  it('squiggles an unknown hook with a suggestion', async () => {
    const editor = await openFixture('probe.bpf.c');
    const diags = await waitFor(() => {
      const ds = vscode.languages.getDiagnostics(editor.document.uri).filter((d) => d.source === 'bpf-lsm');
      return ds.length ? ds : undefined;
    }, 'bpf-lsm diagnostics on probe.bpf.c', 60_000);
    const unknown = diags.find((d) => String(typeof d.code === 'object' ? d.code.value : d.code) === 'unknown-hook');
    assert.ok(unknown, diags.map((d) => d.message).join(' | '));
    assert.match(unknown.message, /Unknown LSM hook "file_opne".*Did you mean "file_open"\?/);
    assert.equal(editor.document.getText(unknown.range), 'file_opne');
    assert.equal(unknown.severity, vscode.DiagnosticSeverity.Error);
  });

  it('answers from the Debian 6.1 kernel when bpfLsm.btfPath points at it', async function () {
    this.timeout(300_000);
    const vmlinux = debian61Vmlinux();
    await vscode.workspace.getConfiguration('bpfLsm').update('btfPath', vmlinux, vscode.ConfigurationTarget.Global);
    const editor = await openFixture('probe.bpf.c');
    const pos = await freshSecLine(editor);
    // 6.1 still has bpf_map_alloc_security; 6.9 renamed it to bpf_map_create.
    await completions(
      editor.document,
      pos,
      (xs) => xs.some((i) => label(i) === 'bpf_map_alloc_security') && !xs.some((i) => label(i) === 'bpf_map_create'),
      'the 6.1 hook set in completion',
    );
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    await insertsStub(await openFixture('probe.bpf.c'));
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('documents bprm_check_security on hover against the 6.1 BTF, from the 6.1 Debian package (no kernel sources here)', async function () {
    this.timeout(300_000);
    await vscode.workspace.getConfiguration('bpfLsm').update('btfPath', debian61Vmlinux(), vscode.ConfigurationTarget.Global);
    const editor = await openFixture('probe.bpf.c');
    const text = editor.document.getText();
    const pos = editor.document.positionAt(text.indexOf('bprm_check_security') + 4);
    // The first hover may say the docs are being fetched from Debian's packages (once per kernel version).
    const md = await waitFor(async () => {
      const hs = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', editor.document.uri, pos);
      const t = hs ? hoverText(hs) : '';
      return /Kernel documentation\*\* for 6\.1/.test(t) ? t : undefined;
    }, 'a documented hover on bprm_check_security', 240_000);
    assert.match(md, /int bprm_check_security\(struct linux_binprm \*bprm\)/);
    assert.match(md, /\*\*Kernel documentation\*\* for 6\.1 \(Debian package linux-headers-6\.1\.0-\d+-common /);
    assert.match(md, /search for a binary handler/, 'the kernel\'s own text for the hook');
  });
});
