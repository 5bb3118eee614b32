// Exec policy: the file format and its errors, the FNV-1a and device encodings the probe relies on, and the
// rules a policy turns into.
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fnv1a64, kernelDev, parsePolicy, pathsExist, ruleEntries, ACTION_AUDIT, ACTION_DENY, KIND_CONTENT, KIND_CONTENT_ON, KIND_INODE, KIND_PATH } from '../../extension/core/policy/policy';
import { LocalTarget } from '../../extension/core/targets/local';

describe('exec policy', () => {
  it('parses the documented format, defaulting to enforce and dropping duplicates', () => {
    assert.deepEqual(parsePolicy('{"mode":"audit","deny":["/usr/bin/nc","/usr/bin/nc"]}'), { mode: 'audit', deny: ['/usr/bin/nc'] });
    assert.deepEqual(parsePolicy('{"deny":[]}'), { mode: 'enforce', deny: [] });
  });

  it('rejects what it cannot enforce, saying what to write instead', () => {
    assert.throws(() => parsePolicy('{', 'p.json'), /p.json is not valid JSON.*"mode": "audit" \| "enforce"/);
    assert.throws(() => parsePolicy('{"mode":"block","deny":[]}'), /"mode" must be "audit" or "enforce"/);
    assert.throws(() => parsePolicy('{"deny":["bin/ls"]}'), /deny\[0\] must be an absolute path/);
    assert.throws(() => parsePolicy('{"deny":"/bin/ls"}'), /"deny" must be a list/);
    assert.throws(() => parsePolicy('{"deny":[], "allow":[]}'), /unknown field\(s\) allow/);
    assert.throws(() => parsePolicy('{"deny":[], "byContent":"yes"}'), /"byContent" must be true or false/);
    assert.throws(() => parsePolicy(JSON.stringify({ deny: ['/' + 'x'.repeat(600)] })), /511-byte path limit/);
  });

  it('hashes paths with 64-bit FNV-1a (published test vectors)', () => {
    assert.equal(fnv1a64(''), 0xcbf29ce484222325n);
    assert.equal(fnv1a64('a'), 0xaf63dc4c8601ec8cn);
    assert.equal(fnv1a64('foobar'), 0x85944171f73967e8n);
  });

  it('converts st_dev to the kernel dev_t that inode->i_sb->s_dev holds', () => {
    // 8:1 (sda1): st_dev 0x801 -> MKDEV(8, 1)
    assert.equal(kernelDev(0x801n), (8n << 20n) | 1n);
    // 0:33 (tmpfs, anonymous): st_dev 0x21
    assert.equal(kernelDev(0x21n), 33n);
    // 259:65537 (large minor): new_encode_dev puts minor bits above bit 20
    const major = 259n;
    const minor = 65537n;
    const st = (minor & 0xffn) | (major << 8n) | ((minor & ~0xffn) << 12n);
    assert.equal(kernelDev(st), (major << 20n) | minor);
  });

  it('turns each denied path into path-hash rules and an inode rule, with the mode as action', () => {
    const rules = ruleEntries({ mode: 'enforce', deny: ['/usr/bin/vi'] }, [{ path: '/usr/bin/vi', resolved: '/usr/bin/vim.basic', ino: 42n, dev: 33n }]);
    assert.deepEqual(
      rules.map((r) => [r.key.kind, r.key.a, r.key.b, r.value.action]),
      [
        [KIND_PATH, fnv1a64('/usr/bin/vi').toString(), '0', ACTION_DENY],
        [KIND_PATH, fnv1a64('/usr/bin/vim.basic').toString(), '0', ACTION_DENY],
        [KIND_INODE, '42', '33', ACTION_DENY],
      ],
    );
    const digest = 'ab'.repeat(32);
    const byContent = ruleEntries({ mode: 'enforce', deny: ['/x'], byContent: true }, [{ path: '/x', resolved: '/x', ino: 1n, dev: 2n, sha256: digest }]);
    const d = Buffer.from(digest, 'hex');
    assert.deepEqual(
      byContent.filter((r) => r.key.kind >= KIND_CONTENT).map((r) => [r.key.kind, r.key.pad, r.key.a, r.key.b]),
      [
        [KIND_CONTENT, 4, d.readBigUInt64LE(0).toString(), d.readBigUInt64LE(8).toString()],
        [KIND_CONTENT_ON, 0, '0', '0'],
      ],
    );
    const missing = ruleEntries({ mode: 'audit', deny: ['/opt/x'] }, [{ path: '/opt/x' }]);
    assert.deepEqual(missing.map((r) => [r.key.kind, r.value.action]), [[KIND_PATH, ACTION_AUDIT]]);
  });

  it('looks for several pins in one command, in order, names with spaces and quotes included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-pins-'));
    try {
      const odd = join(dir, `it's a "pin"`);
      writeFileSync(odd, '');
      writeFileSync(join(dir, 'b'), '');
      const got = await pathsExist(new LocalTarget(), [join(dir, 'a'), odd, join(dir, 'b'), join(dir, '$(touch c)')]);
      assert.deepEqual(got, [false, true, true, false]);
      assert.deepEqual(await pathsExist(new LocalTarget(), [join(dir, 'c')]), [false], 'no name is run as a command');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
