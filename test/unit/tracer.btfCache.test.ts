// The trace session's BTF cache: a kernel seen before (same /proc/version and BTF size) is traced without
// reading its BTF over the helper again; anything that does not match exactly is read afresh.
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedBtfFile, lookupBtf, parseIdentity, rememberBtf } from '../../extension/core/trace/tracerSession';

const BANNER = 'Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-1 (2026-10-01)';

describe('trace session BTF cache', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-btfcache-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses the identity command output and refuses anything else', () => {
    assert.deepEqual(parseIdentity(`${BANNER}\n4359789\n`), { banner: BANNER, btfSize: 4359789 });
    assert.equal(parseIdentity('4359789\n'), undefined);
    assert.equal(parseIdentity(`${BANNER}\nstat: can't stat '/sys/kernel/btf/vmlinux'\n`), undefined);
    assert.equal(parseIdentity(`${BANNER}\n0\n`), undefined);
  });

  it('finds a remembered BTF only for the same banner and size', () => {
    const btf = Buffer.alloc(4096, 7);
    const id = { banner: BANNER, btfSize: btf.length };
    assert.equal(lookupBtf(dir, id), undefined);
    const file = cachedBtfFile(btf, dir);
    rememberBtf(dir, id, file);
    assert.equal(lookupBtf(dir, id), file);
    assert.equal(lookupBtf(dir, { banner: BANNER.replace('6.1.192-1', '6.1.193-1'), btfSize: btf.length }), undefined);
    assert.equal(lookupBtf(dir, { banner: BANNER, btfSize: btf.length + 8 }), undefined);
  });

  it('does not trust a cached file whose size no longer matches', () => {
    const btf = Buffer.alloc(4096, 7);
    const id = { banner: BANNER, btfSize: btf.length };
    const file = cachedBtfFile(btf, dir);
    rememberBtf(dir, id, file);
    writeFileSync(file, btf.subarray(0, 100));
    assert.equal(lookupBtf(dir, id), undefined);
  });
});
