// Kernel documentation on a machine without kernel sources: the server fetches it from Debian's packages
// at run time (apt-get download, no root), extracts it once into the cache per kernel series, and hover
// says which kernel and package the text comes from. Offline, hover says how to get docs.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docPackages, pickPackage } from '../../extension/shared/hooks/debianDocs';
import { kv } from '../../extension/shared/hooks/kernelVersion';
import { debian61Vmlinux } from '../fixtures/kernels';
import { LspClient, positionOf } from '../fixtures/lspClient';

const NAMES = [
  'linux-headers-6.1.0-47-common',
  'linux-headers-6.1.0-57-common',
  'linux-headers-6.1.0-9-common',
  'linux-source-6.1',
  'linux-source-6.12',
  'linux-headers-5.10.0-30-common',
];

describe('hook docs from Debian packages: which package', () => {
  it('takes the highest ABI headers package before 6.4 and linux-source from 6.4 on', () => {
    const pkgs = docPackages(NAMES);
    assert.deepEqual(pkgs.map((p) => `${p.name}:${p.format}`).sort(), [
      'linux-headers-5.10.0-30-common:lsm_hooks.h',
      'linux-headers-6.1.0-57-common:lsm_hooks.h',
      'linux-source-6.12:security.c',
    ]);
  });

  it('picks the kernel\'s own series, else the nearest one', () => {
    const pkgs = docPackages(NAMES);
    assert.equal(pickPackage(pkgs, kv('6.1.192'))!.name, 'linux-headers-6.1.0-57-common');
    assert.equal(pickPackage(pkgs, kv('6.18.44'))!.name, 'linux-source-6.12');
    assert.equal(pickPackage(pkgs, kv('6.12.117'))!.name, 'linux-source-6.12');
    assert.equal(pickPackage(pkgs, kv('5.15'))!.name, 'linux-headers-5.10.0-30-common');
    assert.equal(pickPackage([], kv('6.1')), undefined);
  });
});

describe('hook docs from Debian packages: hover on a machine without kernel sources', function () {
  this.timeout(300_000);
  const caches: string[] = [];
  const fresh = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'bls-docs-'));
    caches.push(d);
    return d;
  };
  after(() => {
    for (const d of caches) rmSync(d, { recursive: true, force: true });
  });

  const text = '#include "vmlinux.h"\n\nSEC("lsm/bprm_check_security")\nint BPF_PROG(check, struct linux_binprm *bprm)\n{\n\treturn 0;\n}\n';

  async function hoverOf(client: LspClient): Promise<string> {
    const u = `file:///workspace/docs-${Date.now()}.bpf.c`;
    await client.open(u, text);
    const pos = positionOf(text, 'bprm_check_security', 3);
    const h = await client.hover(u, pos.line, pos.character);
    return (h!.contents as { value: string }).value;
  }

  it('bprm_check_security against the 6.1 BTF shows the kernel\'s text from the 6.1 Debian package, fetched once into the cache', async () => {
    const cache = fresh();
    const btf = debian61Vmlinux();
    // No kernelSourcePath, and this machine has no /usr/src/linux-* or /lib/modules tree.
    const client = await LspClient.start({ btfPath: btf }, { BPF_LSM_CACHE: cache });
    try {
      const first = await hoverOf(client);
      assert.match(first, /being fetched from Debian's kernel packages/);
      const started = Date.now();
      let md = first;
      while (!/search for a binary handler/.test(md) && Date.now() - started < 240_000) {
        await new Promise((r) => setTimeout(r, 1000));
        md = await hoverOf(client);
      }
      console.log(`      docs arrived ${((Date.now() - started) / 1000).toFixed(1)} s after the first hover`);
      assert.match(md, /\*\*Kernel documentation\*\* for 6\.1 \(Debian package linux-headers-6\.1\.0-\d+-common 6\.1\.\d+/);
      assert.match(md, /search for a binary handler/, 'the text of lsm_hooks.h\'s @bprm_check_security entry');
      const origin = JSON.parse(readFileSync(join(cache, 'hook-docs', '6.1', 'origin.json'), 'utf8'));
      assert.equal(origin.format, 'lsm_hooks.h');
      assert.ok(existsSync(join(cache, 'hook-docs', '6.1', 'lsm_hooks.h')));
    } finally {
      await client.stop();
    }
    // A second server reads the cache: docs on the first hover, no download.
    const again = await LspClient.start({ btfPath: btf }, { BPF_LSM_CACHE: cache, PATH: '/nonexistent' });
    try {
      assert.match(await hoverOf(again), /\*\*Kernel documentation\*\* for 6\.1 \(Debian package/);
    } finally {
      await again.stop();
    }
  });

  it('offline (no apt), hover says how to get the docs', async () => {
    const client = await LspClient.start({ btfPath: debian61Vmlinux() }, { BPF_LSM_CACHE: fresh(), PATH: '/nonexistent' });
    try {
      let md = await hoverOf(client);
      for (let i = 0; i < 50 && /being fetched/.test(md); i++) {
        await new Promise((r) => setTimeout(r, 100));
        md = await hoverOf(client);
      }
      assert.match(md, /No kernel documentation: apt-cache is not available/);
      assert.match(md, /Set bpfLsm\.kernelSourcePath/);
    } finally {
      await client.stop();
    }
  });
});
