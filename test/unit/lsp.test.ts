// The language server over the real protocol (dist/server.js on stdio), answering from the host
// kernel's BTF: completion and stub text, hover, every diagnostic and its quick fix.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompletionItem, CompletionItemTag, Diagnostic, TextEdit } from 'vscode-languageserver-protocol/node';
import { debian61Vmlinux, HOST_BTF } from '../fixtures/kernels';
import { LspClient, positionOf } from '../fixtures/lspClient';

const fixtures = join(__dirname, '..', '..', '..', 'test', 'fixtures');
const HEADER = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n\nchar LICENSE[] SEC("license") = "GPL";\n\n';

let n = 0;
const uri = (): string => `file:///workspace/lsp-test-${++n}.bpf.c`;

function edit(item: CompletionItem): TextEdit {
  assert.ok(item.textEdit && 'range' in item.textEdit, `${item.label} has a textEdit with a range`);
  return item.textEdit as TextEdit;
}

/** Diagnostic messages may be markup in LSP 3.18; this server sends plain strings. */
function msgOf(d: Diagnostic): string {
  return typeof d.message === 'string' ? d.message : d.message.value;
}

function byCode(diags: Diagnostic[], code: string): Diagnostic {
  const d = diags.find((x) => x.code === code);
  assert.ok(d, `expected a ${code} diagnostic, got: ${diags.map((x) => `${x.code}: ${msgOf(x)}`).join(' | ') || 'none'}`);
  return d;
}

describe('lsp: language server over stdio', function () {
  this.timeout(30_000);
  let client: LspClient;

  before(async () => {
    client = await LspClient.start({ btfPath: HOST_BTF, kernelSourcePath: join(fixtures, 'kernel-src-6.4') });
  });
  after(async () => {
    await client?.stop();
  });

  describe('completion', () => {
    it('offers hooks inside SEC("lsm/") and inserts the whole stub on a fresh line', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/")\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'SEC("lsm/', 9);
      const list = await client.complete(u, pos.line, pos.character);
      const names = list.items.map((i) => i.label);
      assert.ok(names.length >= 260, `hooks offered: ${names.length}`);
      const fileOpen = list.items.find((i) => i.label === 'file_open')!;
      const e = edit(fileOpen);
      assert.deepEqual(e.range.start, pos);
      assert.equal(e.range.end.character, pos.character + 2, 'replaces through the closing ")');
      assert.ok(e.newText.startsWith('file_open")\nint BPF_PROG(file_open, struct file *file, int ret)\n{\n'), e.newText);
      assert.match(e.newText, /\$\{1\}/, 'a tab stop for the body');
      assert.match(e.newText, /return \$\{2:0\};\n\}$/, 'returns 0 by default, as a tab stop');
      assert.match(e.newText, /if \(ret != 0\)\n\t\treturn ret;/, 'keeps an earlier denial');
      assert.equal(fileOpen.insertTextFormat, 2);
      assert.match(fileOpen.detail!, /^int file_open\(struct file \*file\)/);
    });

    it('filters as the user types', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/bprm_ch")\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'bprm_ch', 7);
      const list = await client.complete(u, pos.line, pos.character);
      const names = list.items.map((i) => i.label);
      assert.ok(names.includes('bprm_check_security'));
      assert.ok(!names.includes('file_open'));
      assert.deepEqual(edit(list.items.find((i) => i.label === 'bprm_check_security')!).range.start, { line: pos.line, character: pos.character - 7 });
    });

    it('gives void hooks no ret argument and says they cannot deny', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/task_fr")\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'task_fr', 7);
      const item = (await client.complete(u, pos.line, pos.character)).items.find((i) => i.label === 'task_free')!;
      assert.match(edit(item).newText, /^task_free"\)\nint BPF_PROG\(task_free, struct task_struct \*task\)\n/);
      assert.doesNotMatch(edit(item).newText, /int ret/);
      assert.match(item.detail!, /cannot deny/);
    });

    it('offers only sleepable hooks after lsm.s/', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm.s/")\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'lsm.s/', 6);
      const names = (await client.complete(u, pos.line, pos.character)).items.map((i) => i.label);
      assert.ok(names.includes('file_open') && names.includes('bprm_check_security'));
      assert.ok(!names.includes('task_free') && !names.includes('file_permission'), 'non-sleepable hooks are not offered');
    });

    it('inserts only the name when the program already follows the SEC line', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/file_op")\nint BPF_PROG(file_open, struct file *file)\n{\n\treturn 0;\n}\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'file_op', 7);
      const item = (await client.complete(u, pos.line, pos.character)).items.find((i) => i.label === 'file_open')!;
      assert.equal(edit(item).newText, 'file_open');
    });

    it('marks disabled hooks as deprecated and sorts them last', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/")\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'lsm/', 4);
      const items = (await client.complete(u, pos.line, pos.character)).items;
      const item = items.find((i) => i.label === 'vm_enough_memory')!;
      assert.deepEqual(item.tags, [CompletionItemTag.Deprecated]);
      assert.match(item.detail!, /disabled for BPF/);
      // The editor sorts by sortText, or by the label when there is none.
      const key = (i: (typeof items)[number]) => i.sortText ?? i.label;
      const enabled = items.filter((i) => !i.tags?.length);
      assert.ok(enabled.length > 0, 'the typed letters match enabled hooks too');
      for (const e of enabled) assert.ok(key(e) < key(item), `${e.label} (${key(e)}) sorts before the disabled ${item.label} (${key(item)})`);
    });

    it('completes hook names and the argument list inside BPF_PROG( after a SEC line', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/bprm_check_security")\nint BPF_PROG()\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'BPF_PROG(', 9);
      const list = await client.complete(u, pos.line, pos.character);
      const first = list.items.find((i) => i.preselect)!;
      assert.equal(first.label, 'bprm_check_security');
      assert.equal(edit(first).newText, 'bprm_check_security, struct linux_binprm *bprm, int ret)');
      assert.equal(edit(first).range.end.character, pos.character + 1, 'replaces the closing parenthesis');
    });

    it('offers the LSM program types right after SEC(" and reopens completion for the hook', async () => {
      const u = uri();
      const text = `${HEADER}SEC("ls")\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'SEC("ls', 7);
      const items = (await client.complete(u, pos.line, pos.character)).items;
      assert.deepEqual(items.map((i) => i.label), ['lsm/', 'lsm.s/']);
      assert.deepEqual(edit(items[0]).range.start, { line: pos.line, character: pos.character - 2 });
      assert.equal(items[1].command?.command, 'editor.action.triggerSuggest');
    });

    it('offers program and probe-file snippets on a fresh top-level line', async () => {
      const u = uri();
      const text = 'lsm';
      await client.open(u, text);
      const items = (await client.complete(u, 0, 3)).items;
      const file = items.find((i) => i.label === 'lsm probe file')!;
      assert.match(edit(file).newText, /char LICENSE\[\] SEC\("license"\) = "GPL";/);
      assert.match(edit(file).newText, /SEC\("lsm\/file_open"\)\nint BPF_PROG\(file_open, struct file \*file, int ret\)/);
      const prog = items.find((i) => i.label === 'lsm program')!;
      assert.equal(edit(prog).newText, 'SEC("lsm/$0")');
      assert.equal(prog.command?.command, 'editor.action.triggerSuggest');
    });
  });

  describe('hover', () => {
    it('shows signature, return rule, sleepable and disabled status and kernel docs on a SEC hook name', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/bprm_check_security")\nint BPF_PROG(bprm_check_security, struct linux_binprm *bprm, int ret)\n{\n\treturn 0;\n}\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'bprm_check_security', 4);
      const h = await client.hover(u, pos.line, pos.character);
      assert.ok(h);
      const md = (h.contents as { value: string }).value;
      assert.match(md, /int bprm_check_security\(struct linux_binprm \*bprm\);/);
      assert.match(md, /0 to allow.*negative errno to deny/);
      assert.match(md, /\*\*Sleepable:\*\* yes/);
      assert.match(md, /\*\*Disabled:\*\* no/);
      assert.match(md, /bpf_d_path/);
      assert.match(md, /Fixture summary of the exec check/, 'kernel documentation from kernelSourcePath');
    });

    it('works on the hook name in BPF_PROG, and tells void hooks cannot deny', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/task_free")\nint BPF_PROG(task_free, struct task_struct *task)\n{\n\treturn 0;\n}\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'BPF_PROG(task_free', 11);
      const md = ((await client.hover(u, pos.line, pos.character))!.contents as { value: string }).value;
      assert.match(md, /void task_free\(struct task_struct \*task\);/);
      assert.match(md, /cannot deny/);
      assert.match(md, /\*\*Sleepable:\*\* no/);
    });

    it('explains sleepable-only helpers on hover', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm.s/file_open")\nint BPF_PROG(file_open, struct file *file, int ret)\n{\n\tchar buf[64];\n\tbpf_copy_from_user(buf, 8, 0);\n\tbpf_d_path(&file->f_path, buf, sizeof(buf));\n\treturn 0;\n}\n`;
      await client.open(u, text);
      let pos = positionOf(text, 'bpf_copy_from_user', 3);
      let md = ((await client.hover(u, pos.line, pos.character))!.contents as { value: string }).value;
      assert.match(md, /`bpf_copy_from_user` is only available to \*\*sleepable\*\* LSM programs/);
      assert.match(md, /SEC\("lsm.s\/file_open"\)`, so it may call it/);
      // bpf_d_path is gated on the hook (bpf_d_path_allowed), not on the program's kind.
      pos = positionOf(text, 'bpf_d_path', 3);
      md = ((await client.hover(u, pos.line, pos.character))!.contents as { value: string }).value;
      assert.match(md, /whose \*\*hook\*\* is in the kernel's sleepable set/);
      assert.match(md, /hook `file_open` is in that set/);
    });

    it('returns nothing off hook names', async () => {
      const u = uri();
      const text = `${HEADER}int x;\n`;
      await client.open(u, text);
      assert.equal(await client.hover(u, 0, 3), null);
    });
  });

  describe('diagnostics', () => {
    it('flags an unknown hook with "did you mean" and renames it with the quick fix', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/file_opne")\nint BPF_PROG(file_opne, struct file *file)\n{\n\treturn 0;\n}\n`;
      await client.open(u, text);
      const d = byCode(await client.diagnosticsFor(u), 'unknown-hook');
      assert.match(msgOf(d), /Unknown LSM hook "file_opne".*Did you mean "file_open"\?/);
      assert.equal(d.severity, 1);
      const actions = await client.codeActions(u, [d]);
      const edits = actions[0].edit!.changes![u];
      assert.equal(actions[0].title, 'Change to "file_open"');
      assert.deepEqual(edits.map((e) => e.newText), ['file_open', 'file_open'], 'SEC string and the BPF_PROG name');
    });

    it('flags a hook that exists on other kernels but not on the target', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/bpf_map_alloc_security")\nint BPF_PROG(bpf_map_alloc_security, struct bpf_map *map)\n{\n\treturn 0;\n}\n`;
      await client.open(u, text);
      const d = byCode(await client.diagnosticsFor(u), 'missing-hook');
      assert.match(msgOf(d), /does not exist on the target kernel 6\.18.*exists on 6\.1.*successor here is "bpf_map_create"/);
      const actions = await client.codeActions(u, [d]);
      assert.equal(actions[0].edit!.changes![u][0].newText, 'bpf_map_create');
    });

    it('flags a disabled hook', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/vm_enough_memory")\nint BPF_PROG(vm_enough_memory, struct mm_struct *mm, long pages)\n{\n\treturn 0;\n}\n`;
      await client.open(u, text);
      const d = byCode(await client.diagnosticsFor(u), 'disabled-hook');
      assert.match(msgOf(d), /refuses BPF programs on "vm_enough_memory"/);
    });

    it('flags lsm.s/ on a non-sleepable hook and offers lsm/', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm.s/task_free")\nint BPF_PROG(task_free, struct task_struct *task)\n{\n\treturn 0;\n}\n`;
      await client.open(u, text);
      const diags = await client.diagnosticsFor(u);
      const d = byCode(diags, 'not-sleepable');
      assert.match(msgOf(d), /not a sleepable hook/);
      assert.equal(diags.length, 1, 'the signature itself is right');
      const actions = await client.codeActions(u, [d]);
      assert.equal(actions[0].edit!.changes![u][0].newText, 'lsm');
    });

    it('flags a wrong parameter count and regenerates the list', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/file_open")\nint BPF_PROG(my_open, struct file *file, int mask, int ret)\n{\n\treturn 0;\n}\n`;
      await client.open(u, text);
      const d = byCode(await client.diagnosticsFor(u), 'param-count');
      assert.match(msgOf(d), /lists 3 argument\(s\).*passes 1 \(plus an optional int ret\)/);
      const actions = await client.codeActions(u, [d]);
      assert.equal(actions[0].edit!.changes![u][0].newText, 'BPF_PROG(my_open, struct file *file, int ret', 'keeps the program name');
    });

    it('flags a wrong parameter type but accepts equivalent spellings', async () => {
      const u = uri();
      const text =
        `${HEADER}SEC("lsm/file_open")\nint BPF_PROG(file_open, struct inode *file, int ret)\n{\n\treturn 0;\n}\n` +
        'SEC("lsm/task_prctl")\nint BPF_PROG(task_prctl, int option, long unsigned int arg2, u64 arg3, unsigned long arg4, unsigned long int arg5)\n{\n\treturn 0;\n}\n';
      await client.open(u, text);
      const diags = await client.diagnosticsFor(u);
      const d = byCode(diags, 'param-type');
      assert.match(msgOf(d), /Argument 1 is "struct inode \*file", but file_open on kernel 6\.18.* passes "struct file \*file"/);
      assert.equal(d.severity, 2);
      // u64 is unsigned long long, not unsigned long: the one real mismatch in task_prctl.
      const prctl = diags.filter((x) => msgOf(x).includes('task_prctl'));
      assert.equal(prctl.length, 1, prctl.map(msgOf).join(' | '));
      assert.match(msgOf(prctl[0]), /Argument 3 is "u64 arg3"/);
    });

    it('flags a sleepable-only helper in a non-sleepable program and offers lsm.s/', async () => {
      const u = uri();
      const text = `${HEADER}SEC("lsm/file_open")\nint BPF_PROG(file_open, struct file *file, int ret)\n{\n\tchar buf[64];\n\tbpf_copy_from_user(buf, 8, 0);\n\treturn 0;\n}\n`;
      await client.open(u, text);
      const d = byCode(await client.diagnosticsFor(u), 'sleepable-helper');
      assert.match(msgOf(d), /bpf_copy_from_user is only available to sleepable programs.*use SEC\("lsm.s\/file_open"\)/);
      const actions = await client.codeActions(u, [d]);
      assert.equal(actions[0].edit!.changes![u][0].newText, 'lsm.s');
      // Once sleepable, the helper is fine.
      await client.change(u, text.replace('SEC("lsm/file_open")', 'SEC("lsm.s/file_open")'));
      assert.deepEqual(await client.diagnosticsFor(u), []);
    });

    it('is silent on a correct probe and ignores commented-out code', async () => {
      const u = uri();
      const text = `${HEADER}// SEC("lsm/not_a_hook")\nSEC("lsm/file_open")\nint BPF_PROG(file_open, struct file *file, int ret)\n{\n\treturn ret;\n}\n`;
      await client.open(u, text);
      assert.deepEqual(await client.diagnosticsFor(u), []);
    });
  });
});

describe('lsp: settings', function () {
  this.timeout(300_000);

  it('keeps the client-chosen BTF when the pushed setting is empty, and follows an explicit btfPath', async () => {
    const client = await LspClient.start({ btfPath: debian61Vmlinux() });
    try {
      const u = uri();
      const text = `${HEADER}SEC("lsm/bpf_map_")\n`;
      await client.open(u, text);
      const pos = positionOf(text, 'bpf_map_', 8);
      const names = async (): Promise<string[]> => (await client.complete(u, pos.line, pos.character)).items.map((i) => i.label);
      assert.ok((await names()).includes('bpf_map_alloc_security'), '6.1 hooks from initializationOptions');
      // vscode-languageclient pushes the whole section, with btfPath empty when the user set none.
      await client.configure({ btfPath: '', kernelSourcePath: '' });
      assert.ok((await names()).includes('bpf_map_alloc_security'), 'still 6.1 after an empty setting');
      await client.configure({ btfPath: HOST_BTF });
      const after = await names();
      assert.ok(after.includes('bpf_map_create') && !after.includes('bpf_map_alloc_security'), '6.18 hooks after btfPath changed');
    } finally {
      await client.stop();
    }
  });
});

describe('lsp: configuration errors', function () {
  this.timeout(30_000);

  it('tells the user when the BTF cannot be read, and what to set', async () => {
    const client = await LspClient.start({ btfPath: '/nonexistent/vmlinux' });
    try {
      await client.open(uri(), `${HEADER}SEC("lsm/file_open")\n`);
      const m = await client.message();
      assert.match(m.message, /cannot build the hook catalog: cannot read BTF from \/nonexistent\/vmlinux: ENOENT.*Set bpfLsm\.btfPath/);
    } finally {
      await client.stop();
    }
  });

  it('reads BTF only from regular files of at most 512 MiB: a device, a FIFO or a huge file is refused at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-btfpath-'));
    try {
      // What a workspace setting could name: an endless device, a FIFO nobody writes (open would block),
      // and a sparse 600 MiB file.
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const huge = join(dir, 'huge.btf');
      writeFileSync(huge, '');
      truncateSync(huge, 600 * 2 ** 20);
      for (const [path, expect] of [['/dev/zero', /\/dev\/zero is not a regular file/], [fifo, /fifo is not a regular file/], [huge, /is larger than 512 MiB/]] as const) {
        const client = await LspClient.start({ btfPath: path });
        try {
          await client.open(uri(), `${HEADER}SEC("lsm/file_open")\n`);
          const m = await client.message(5_000);
          assert.match(m.message, expect);
          assert.ok(client.rssBytes() < 512 * 2 ** 20, `server RSS ${client.rssBytes()} bytes after ${path}`);
        } finally {
          await client.stop();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
