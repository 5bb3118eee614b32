// The trace session's BTF cache: a kernel seen before (same /proc/version and BTF size) is traced without
// reading its BTF over the helper again; anything that does not match exactly is read afresh.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedBtfFile, lookupBtf, parseIdentity, rememberBtf } from '../../extension/core/targets/btfCache';
import { TargetKernel } from '../../extension/core/targets/kernel';

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

  it('follows an index only to a file the cache named, not to a path an edited index names', () => {
    const outside = join(dir, 'outside.bin');
    writeFileSync(outside, Buffer.alloc(4096, 1));
    const id = { banner: BANNER, btfSize: 4096 };
    rememberBtf(dir, id, cachedBtfFile(Buffer.alloc(4096, 7), dir));
    const index = readdirSync(join(dir, 'btf')).find((f) => f.startsWith('kernel-'))!;
    writeFileSync(join(dir, 'btf', index), JSON.stringify({ banner: BANNER, btfSize: 4096, btf: '../outside.bin' }));
    assert.equal(lookupBtf(dir, id), undefined);
  });
});

describe('target kernel: one identity-keyed BTF cache per target kernel', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-kernel-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A target whose exec answers the identity command and counts every BTF read. */
  function fakeTarget(btf: Buffer, banner = BANNER) {
    const calls = { identity: 0, reads: 0 };
    const kernel = new TargetKernel({
      targetId: 'ssh:box',
      name: 'box',
      btfAdvice: 'select it once',
      exec: async (_program, args) => {
        const script = args[1] ?? '';
        if (script.includes('stat -c %s')) {
          calls.identity++;
          return { stdout: `${banner}\n${btf.length}\n`, stderr: '', exitCode: 0 };
        }
        return { stdout: '', stderr: 'not expected', exitCode: 1 };
      },
    });
    const read = async () => {
      calls.reads++;
      return btf;
    };
    return { kernel, calls, read };
  }

  it('reads a kernel once, then recognises it by identity; lastBtf answers without the target', async () => {
    const btf = Buffer.alloc(2048, 3);
    const { kernel, calls, read } = fakeTarget(btf);
    assert.equal(kernel.lastBtf(dir), undefined);
    const first = await kernel.btf({ read, cacheDir: dir });
    assert.equal(first.fromCache, false);
    assert.equal(first.banner, BANNER);
    assert.ok(first.bytes.equals(btf));
    const second = await kernel.btf({ read, cacheDir: dir });
    assert.equal(second.fromCache, true);
    assert.equal(second.path, first.path);
    assert.deepEqual(calls, { identity: 2, reads: 1 });
    const last = kernel.lastBtf(dir);
    assert.equal(last?.path, first.path);
    assert.equal(last?.banner, BANNER);
    assert.equal(calls.identity, 2);
  });

  it('reads again when the kernel changed (another banner), and keeps both', async () => {
    const a = fakeTarget(Buffer.alloc(2048, 3));
    const first = await a.kernel.btf({ read: a.read, cacheDir: dir });
    const b = fakeTarget(Buffer.alloc(2048, 4), BANNER.replace('6.1.192-1', '6.1.193-1'));
    const second = await b.kernel.btf({ read: b.read, cacheDir: dir });
    assert.equal(second.fromCache, false);
    assert.notEqual(second.path, first.path);
    assert.equal(b.kernel.lastBtf(dir)?.path, second.path);
  });

  it('builds against the local copy of the kernel when the target has one, without reaching it', async () => {
    const { kernel: remote } = fakeTarget(Buffer.alloc(16));
    const local = new TargetKernel({
      targetId: 'vm',
      name: '6.1',
      btfAdvice: 'start it once',
      exec: async () => {
        throw new Error('the target must not be reached');
      },
      localBtf: () => ({ path: '/images/vmlinux', what: "the built-in VM's kernel 6.1.0-56-amd64", fromCache: true }),
    });
    assert.equal((await local.buildBtf()).path, '/images/vmlinux');
    assert.equal(remote.localBtf(), undefined);
  });
});
