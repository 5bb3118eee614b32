// Socket paths (extension/core/vm/paths.ts): with a cache path too long for sun_path, the VM's monitor,
// helper channels and ssh control sockets go to a private per-user folder, never straight into /tmp, and a
// folder someone else made there first is refused.
import * as assert from 'node:assert/strict';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { privateDir, socketDir, vmPaths } from '../../extension/core/vm/paths';

describe('socket paths', () => {
  let scratch: string;
  beforeEach(() => (scratch = mkdtempSync(join(tmpdir(), 'bpf-lsm-sock-'))));
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  const longCache = () => join(scratch, 'c'.repeat(120));

  it('puts every socket of a long cache path in a private folder, short enough for sun_path', () => {
    for (const env of [{ BPF_LSM_CACHE: longCache() }, { BPF_LSM_CACHE: longCache(), XDG_RUNTIME_DIR: join(scratch, 'run') }]) {
      const p = vmPaths(env);
      const sockets = [p.monitor, p.sshControl, ...p.helperChannels];
      for (const s of sockets) {
        assert.ok(Buffer.byteLength(s) < 108, s);
        assert.notEqual(dirname(s), tmpdir(), `${s} is not directly in the shared temp folder`);
        assert.equal(dirname(s), socketDir(env));
        privateDir(dirname(s));
        const st = lstatSync(dirname(s));
        assert.ok(st.isDirectory() && !st.isSymbolicLink());
        assert.equal(st.mode & 0o777, 0o700);
        assert.equal(st.uid, process.getuid!());
      }
      assert.equal(new Set(sockets).size, sockets.length);
    }
  });

  it('refuses a socket folder another user made first, or a symlink in its place', () => {
    const env = { XDG_RUNTIME_DIR: join(scratch, 'run') };
    mkdirSync(env.XDG_RUNTIME_DIR);
    const dir = socketDir(env);
    mkdirSync(dir, { mode: 0o777 });
    chownSync(dir, 65534, 65534);
    assert.throws(() => privateDir(dir), /is not a private folder of this user \(owner uid 65534\)/);
    rmSync(dir, { recursive: true });
    symlinkSync(scratch, dir);
    assert.throws(() => privateDir(dir), /is not a private folder of this user \(a symlink\)/);
    rmSync(dir);
    // A folder of ours with loose permissions is tightened, not refused.
    mkdirSync(dir, { mode: 0o755 });
    privateDir(dir);
    assert.equal(lstatSync(dir).mode & 0o777, 0o700);
  });
});
