// Hooks have one owner, the language server: hover, the tracing panel's hook reference (the
// bpfLsm/hookReference request) and `bpf-lsm hooks --reference` give the same text for the same hook
// and kernel, documentation included.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { headerComment, plainText } from '../../extension/shared/hooks/reference';
import { debian61Vmlinux, HOST_BTF } from '../fixtures/kernels';
import { LspClient, positionOf } from '../fixtures/lspClient';

const root = join(__dirname, '..', '..', '..');
const fixtures = join(root, 'test', 'fixtures');

describe('hook reference: hover, panel and CLI say the same', function () {
  this.timeout(300_000);
  const cases = [
    { kernel: '6.18 (this host) with the 6.4 source fixture', settings: { btfPath: HOST_BTF, kernelSourcePath: join(fixtures, 'kernel-src-6.4') }, hooks: ['bprm_check_security', 'file_open', 'settime'], cli: ['--btf', HOST_BTF, '--kernel-source', join(fixtures, 'kernel-src-6.4')] },
    { kernel: 'Debian 6.1, docs from the Debian package cache', settings: { btfPath: debian61Vmlinux() }, hooks: ['bprm_check_security', 'inode_setsecctx'], cli: ['--btf', debian61Vmlinux()] },
  ];
  for (const c of cases) {
    it(`on ${c.kernel}`, async () => {
      const client = await LspClient.start(c.settings);
      try {
        for (const hook of c.hooks) {
          const text = `SEC("lsm/${hook}")\nint BPF_PROG(x)\n{\n\treturn 0;\n}\n`;
          const u = `file:///workspace/ref-${hook}.bpf.c`;
          await client.open(u, text);
          const pos = positionOf(text, hook, 2);
          let ref = await client.hookReference(hook);
          // The 6.1 docs may still be arriving from Debian's packages on a fresh cache.
          for (let i = 0; i < 240 && /being fetched/.test(ref.markdown); i++) {
            await new Promise((r) => setTimeout(r, 500));
            ref = await client.hookReference(hook);
          }
          const hover = ((await client.hover(u, pos.line, pos.character))!.contents as { value: string }).value;
          assert.ok(ref.found, hook);
          assert.equal(ref.markdown, hover, `${hook}: the panel's reference is the hover`);
          assert.match(hover, /\*\*Kernel documentation\*\* /, `${hook}: documented`);
          assert.equal(headerComment(ref.header), plainText(hover), `${hook}: the header's comment is the hover's text`);
          const cli = execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), 'hooks', '--reference', hook, ...c.cli], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
          assert.equal(cli, ref.header, `${hook}: bpf-lsm hooks --reference prints the panel's header`);
        }
        const missing = await client.hookReference('no_such_hook');
        assert.equal(missing.found, false);
        assert.match(missing.header, /has no LSM hook of that name/);
      } finally {
        await client.stop();
      }
    });
  }
});
