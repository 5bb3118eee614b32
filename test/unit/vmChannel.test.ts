// The VM's helper channels without a VM: who gets which channel, and where a new helper's stream begins.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockChannel, tokenScanner } from '../../extension/core/targets/vmChannel';

describe('VM helper channels', () => {
  let dir: string;
  let sockets: string[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-chan-'));
    sockets = [0, 1, 2].map((i) => join(dir, `helper-${i}.sock`));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives each client its own channel until all are taken, and a released one to the next client', () => {
    const a = lockChannel(sockets);
    const b = lockChannel(sockets);
    const c = lockChannel(sockets);
    assert.deepEqual([a?.index, b?.index, c?.index], [0, 1, 2]);
    assert.equal(readFileSync(`${sockets[1]}.lock`, 'utf8'), String(process.pid));
    assert.equal(lockChannel(sockets), undefined, 'no fourth channel');
    b!.release();
    assert.equal(existsSync(`${sockets[1]}.lock`), false);
    const d = lockChannel(sockets);
    assert.equal(d?.index, 1);
    // Releasing twice must not free a channel someone else has taken since.
    b!.release();
    assert.equal(existsSync(`${sockets[1]}.lock`), true);
  });

  it('starts from the given channel, wraps around, and leaves out channels known to be busy in the guest', () => {
    assert.equal(lockChannel(sockets, 2)?.index, 2);
    assert.equal(lockChannel(sockets, 2)?.index, 0, 'wraps around past the last channel');
    assert.equal(lockChannel(sockets, 0, new Set([1])), undefined, 'channel 1 is free here but held in the guest');
    assert.equal(lockChannel(sockets, 0)?.index, 1);
  });

  it('takes over the channel of a client that died without releasing it, but not of a live one', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(`${sockets[0]}.lock`, dead.stdout);
    writeFileSync(`${sockets[1]}.lock`, String(process.ppid));
    writeFileSync(`${sockets[2]}.lock`, 'not a pid');
    const first = lockChannel(sockets);
    assert.equal(first?.index, 0, 'the dead owner lost channel 0');
    assert.equal(readFileSync(`${sockets[0]}.lock`, 'utf8'), String(process.pid));
    assert.equal(lockChannel(sockets)?.index, 2, 'a lock file without a pid is stale too; the live parent keeps 1');
    assert.equal(lockChannel(sockets), undefined);
  });

  it('starts the stream right after the token, dropping an earlier helper\'s late bytes, whatever the chunking', () => {
    const token = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const stale = Buffer.from(`\x00\x01garbage a1b2c3 ${token.slice(0, 10)}\n`);
    const stream = Buffer.concat([stale, Buffer.from(`${token}\n`), Buffer.from([0x42, 0x50, 0x46, 0x00, 0x0a])]);
    for (const size of [1, 2, 3, 7, 33, stream.length]) {
      const scan = tokenScanner(token);
      let rest: Buffer | undefined;
      let consumed = 0;
      for (let at = 0; at < stream.length && !rest; at += size) {
        rest = scan(stream.subarray(at, at + size));
        consumed = Math.min(at + size, stream.length);
      }
      assert.ok(rest, `token found with ${size}-byte chunks`);
      // What the client reads: the bytes after the token line, from the last chunk and everything after it.
      assert.deepEqual(Buffer.concat([rest, stream.subarray(consumed)]), Buffer.from([0x42, 0x50, 0x46, 0x00, 0x0a]), `chunks of ${size}`);
    }
    const scan = tokenScanner(token);
    assert.equal(scan(Buffer.from(`${token.slice(0, 31)}x\n`)), undefined, 'a near miss is not the token');
    assert.equal(scan(Buffer.from(`${token}`)), undefined, 'the token without its newline is not yet the start');
    assert.deepEqual(scan(Buffer.from('\n')), Buffer.alloc(0));
  });
});
