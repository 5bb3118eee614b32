// Matrix diagnostics through the real language server: with the matrix set to Debian's 6.1 and 6.12
// kernels, a hook disabled for BPF on 6.12 only (getselfattr; 6.1 does not have it) is flagged for each
// kernel by name, a hook 6.12 dropped is flagged for 6.12, a hook whose argument types changed is flagged
// with both signatures, and a hook fine on both is not flagged.
import * as assert from 'node:assert/strict';
import { debian612Vmlinux, debian61Vmlinux } from '../fixtures/kernels';
import { LspClient } from '../fixtures/lspClient';

const HEADER = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n';

describe('lsp: kernel matrix diagnostics', function () {
  this.timeout(300_000);

  it('names the kernel a hook is missing, disabled or typed differently on', async () => {
    const v61 = debian61Vmlinux();
    const v612 = debian612Vmlinux();
    const client = await LspClient.start({ btfPath: v61, matrix: [{ label: '6.1', btfPath: v61 }, { label: '6.12', btfPath: v612 }] });
    try {
      const uri = 'file:///project/matrix.bpf.c';
      const text =
        HEADER +
        'SEC("lsm/file_open")\nint BPF_PROG(a, struct file *file)\n{ return 0; }\n' +
        'SEC("lsm/getselfattr")\nint BPF_PROG(b)\n{ return 0; }\n' +
        'SEC("lsm/bpf_map_alloc_security")\nint BPF_PROG(c, struct bpf_map *map)\n{ return 0; }\n' +
        'SEC("lsm/inode_removexattr")\nint BPF_PROG(d, struct user_namespace *mnt_userns, struct dentry *dentry, const char *name)\n{ return 0; }\n';
      await client.open(uri, text);
      const diags = await client.diagnosticsFor(uri);
      const matrix = diags.filter((d) => String(d.code).startsWith('matrix-')).map((d) => [d.range.start.line, d.code, d.message]);
      const line = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle));
      assert.deepEqual(
        matrix.map(([l, code]) => [l, code]),
        [
          [line('lsm/getselfattr'), 'matrix-missing-hook'],
          [line('lsm/getselfattr'), 'matrix-disabled-hook'],
          [line('lsm/bpf_map_alloc_security'), 'matrix-missing-hook'],
          [line('lsm/inode_removexattr'), 'matrix-signature'],
        ],
      );
      assert.match(String(matrix[0][2]), /^getselfattr does not exist on 6\.1 \(kernel matrix\)/);
      assert.match(String(matrix[1][2]), /^getselfattr is disabled for BPF on 6\.12 \(kernel matrix\)/);
      assert.match(String(matrix[2][2]), /^bpf_map_alloc_security does not exist on 6\.12/);
      assert.match(String(matrix[3][2]), /^inode_removexattr is typed differently on 6\.12 .*struct mnt_idmap \*idmap.*on 6\.1[^2].*struct user_namespace \*mnt_userns/);
    } finally {
      await client.stop();
    }
  });
});
