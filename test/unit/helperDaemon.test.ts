// The VM helper daemon's request line and the pid files it (and every lock of ours) is claimed with.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSessionRequest, REQUEST_PRINTF, sessionFifo, DAEMON_DIR } from '../../extension/shared/helperDaemon';
import { SESSION_SCRIPT } from '../../extension/core/targets/vmDaemon';
import { claimPidFile } from '../../extension/shared/pidFile';

describe('VM helper daemon', () => {
  const token = '0123456789abcdef0123456789abcdef';

  it('reads back the request line a session script writes, and nothing else', () => {
    // The very command the session script writes the request with, run by a POSIX shell.
    assert.ok(SESSION_SCRIPT.includes(`${REQUEST_PRINTF} >&3`), 'the session script writes the request with REQUEST_PRINTF');
    const run = spawnSync('sh', ['-c', `port=$1; token=$2; ${REQUEST_PRINTF}`, 'sh', 'org.bpf-lsm-studio.helper.3', token], { encoding: 'utf8' });
    const line = run.stdout;
    assert.equal(line, `org.bpf-lsm-studio.helper.3 ${token}\n`);
    assert.deepEqual(parseSessionRequest(line), { port: 'org.bpf-lsm-studio.helper.3', token });
    for (const bad of [
      '',
      `org.bpf-lsm-studio.helper.3`,
      `org.bpf-lsm-studio.helper.3 ${token} extra`,
      `other.port.1 ${token}`,
      `org.bpf-lsm-studio.helper.3 ${token.toUpperCase()}`,
      `org.bpf-lsm-studio.helper.3 ../../etc/passwd`,
      `org.bpf-lsm-studio.helper.3 ${token}0`,
    ]) {
      assert.equal(parseSessionRequest(bad), undefined, JSON.stringify(bad));
    }
    assert.equal(sessionFifo(token), `${DAEMON_DIR}/s-${token}`);
  });

  describe('pid files', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-pid-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('is created holding the pid (never empty: written aside, then linked), refused while its holder lives, taken over once it is dead', () => {
      const file = join(dir, 'pid');
      assert.equal(claimPidFile(file), true);
      assert.equal(readFileSync(file, 'utf8'), String(process.pid));
      assert.equal(claimPidFile(file), false, 'we hold it');
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      writeFileSync(file, dead.stdout);
      assert.equal(claimPidFile(file), true, 'a dead holder\'s file is taken over');
      assert.equal(readFileSync(file, 'utf8'), String(process.pid));
      assert.deepEqual(readdirSync(dir), ['pid'], 'nothing written aside is left');
    });
  });
});
