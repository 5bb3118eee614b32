// The real helper process (dist/helper.js) driven over its stdin/stdout, as a target would run it:
// handshake and capabilities, validation of hostile frames without crashing, load refusal explained,
// pending requests rejected when the helper dies, teardown on end of input.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HelperClient, HelperGoneError, HelperRequestError } from '../../extension/core/helperClient';
import { encodeMessage, FrameDecoder, FrameKind } from '../../extension/shared/helperFrames';
import { startHelperProcess } from '../fixtures/helperProcess';

const root = join(__dirname, '..', '..', '..');

/** Raw access for hostile input: write bytes, read decoded replies. */
function rawSession() {
  const t = startHelperProcess();
  const decoder = new FrameDecoder();
  const replies: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  t.output.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) if (f.kind !== FrameKind.EventBatch) replies.push(f.message as Record<string, unknown>);
    waiters.splice(0).forEach((w) => w());
  });
  const until = async (n: number) => {
    while (replies.length < n) await new Promise<void>((r) => waiters.push(r));
    return replies;
  };
  const send = (m: object, blob?: Buffer) => t.input.write(Buffer.concat(encodeMessage(m, blob)));
  return { t, send, until, replies };
}

describe('helper process over stdin/stdout', function () {
  this.timeout(30000);

  it('handshakes and reports capabilities with a remedy for each missing piece', async () => {
    const client = await HelperClient.connect(startHelperProcess(), { client: 'unit-test' });
    try {
      const hello = client.helper!;
      assert.equal(hello.protocolVersion, 1);
      assert.ok(hello.pid > 0);
      const caps = hello.capabilities;
      assert.equal(caps.kernelRelease, readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
      assert.match(caps.libbpf.detail, /^1\.\d+$/);
      for (const check of [caps.bpfLsmActive, caps.configBpfLsm, caps.btf, caps.libbpf, caps.clang, caps.bpftool, caps.root]) {
        assert.equal(typeof check.detail, 'string');
        if (!check.ok) assert.ok(check.remedy && check.remedy.length > 10, `missing remedy for ${check.detail}`);
      }
      assert.equal(caps.canRunLsm, caps.bpfLsmActive.ok && caps.configBpfLsm.ok && caps.btf.ok && caps.libbpf.ok && caps.root.ok);
      const list = await client.call('list', {});
      assert.deepEqual(list, { objects: [], traces: [], processes: [] });
    } finally {
      await client.close();
    }
  });

  it('returns the kernel BTF as a binary blob and refuses other paths without revealing them', async () => {
    const client = await HelperClient.connect(startHelperProcess());
    try {
      const btf = await client.readBtf();
      assert.equal(btf.readUInt16LE(0), 0xeb9f);
      assert.equal(btf.length, readFileSync('/sys/kernel/btf/vmlinux').length);
      await assert.rejects(client.readBtf('/etc/shadow'), (e: HelperRequestError) => e.code === 'invalid-params');
      await assert.rejects(client.readBtf('/sys/kernel/btf/nonexistent'), (e: HelperRequestError) => e.code === 'not-found');
    } finally {
      await client.close();
    }
  });

  it('answers hostile requests with error replies and keeps serving', async () => {
    const { t, send, until } = rawSession();
    send({ type: 'request', id: 1, method: 'list', params: {} });
    send({ type: 'request', id: 2, method: 'hello', params: { protocolVersions: [1], client: 'x' } });
    send({ type: 'request', id: 3, method: 'nope', params: {} });
    send({ type: 'request', id: 4, method: 'attach', params: { objectId: 'x' } });
    send({ type: 'request', id: 5, method: 'attach', params: { objectId: 77 } });
    send([1, 2, 3]);
    t.input.write(Buffer.from([2, 0, 0, 0, 1, 0, 0, 0, 0x7b, 0x7d].slice(0, 8).concat([0x7b, 0x22])));
    send({ type: 'request', id: 6, method: 'loadObject', params: { name: 'junk.o' } }, Buffer.from('garbage'));
    send({ type: 'request', id: 7, method: 'mapLookup', params: { objectId: 1, map: 'm', key: 1 } });
    send({ type: 'request', id: 8, method: 'resume', params: { pid: 12345 } });
    send({ type: 'request', id: 9, method: 'list' });
    const replies = await until(11);
    const byId = (id: number) => replies.find((r) => r.id === id) as { error?: { code: string; message: string }; result?: unknown };
    assert.equal(byId(1).error?.code, 'handshake-required');
    assert.ok(byId(2).result);
    assert.equal(byId(3).error?.code, 'unknown-method');
    assert.equal(byId(4).error?.code, 'invalid-params');
    assert.equal(byId(5).error?.code, 'not-found');
    assert.equal(byId(6).error?.code, 'invalid-params');
    assert.match(byId(6).error?.message ?? '', /not a usable BPF object/);
    assert.equal(byId(7).error?.code, 'not-found');
    assert.equal(byId(8).error?.code, 'not-found');
    assert.deepEqual(byId(9).result, { objects: [], traces: [], processes: [] });
    const anonymous = replies.filter((r) => r.id === 0).map((r) => (r.error as { code: string }).code).sort();
    assert.deepEqual(anonymous, ['invalid-request', 'parse-error']);
    await t.close();
    assert.equal(await t.exited, 0);
  });

  it('closes the session on a frame with an absurd length, instead of buffering it', async () => {
    const { t, send, until } = rawSession();
    send({ type: 'request', id: 1, method: 'hello', params: { protocolVersions: [1], client: 'x' } });
    await until(1);
    const header = Buffer.alloc(8);
    header.writeUInt32LE(0xffffffff, 0);
    header[4] = 1;
    t.input.write(header);
    const replies = await until(2);
    assert.match(JSON.stringify(replies[1]), /protocol error, closing the session/);
    assert.equal(await t.exited, 0);
  });

  it('explains why a load is refused (or loads) and rejects a protocol version it does not speak', async () => {
    const client = await HelperClient.connect(startHelperProcess());
    try {
      const bytes = readFileSync(join(root, 'dist', 'bpf', 'helper_test.bpf.o'));
      const outcome = await client.loadObject(bytes, { name: 'helper_test.bpf.o', globals: { filter_tgid: process.pid } }).then(
        (r) => r,
        (e: HelperRequestError) => e,
      );
      if (outcome instanceof HelperRequestError) {
        assert.ok(['kernel-refused', 'load-failed'].includes(outcome.code), outcome.code);
        assert.ok(outcome.remedy && outcome.remedy.length > 10);
        assert.equal(typeof outcome.data?.log, 'string');
        assert.deepEqual((await client.call('list', {})).objects, []);
      } else {
        assert.deepEqual(outcome.programs.map((p) => p.loaded), [true, true]);
      }
      await assert.rejects(
        client.loadObject(bytes, { name: 'helper_test.bpf.o', globals: { filter_tgid: 'lots' } }),
        (e: HelperRequestError) => e.code === 'invalid-params' && /globals\.filter_tgid/.test(e.message),
      );
      await assert.rejects(
        client.loadObject(bytes, { name: 'helper_test.bpf.o', globals: { no_such_global: 1 } }),
        (e: HelperRequestError) => e.code === 'not-found' && /filter_tgid/.test(e.message),
      );
    } finally {
      await client.close();
    }
    const other = startHelperProcess();
    const decoder = new FrameDecoder();
    other.input.write(Buffer.concat(encodeMessage({ type: 'request', id: 1, method: 'hello', params: { protocolVersions: [99], client: 'future' } })));
    const reply = await new Promise<Record<string, unknown>>((resolve) => other.output.on('data', (c: Buffer) => decoder.push(c).forEach((f) => resolve((f as { message: Record<string, unknown> }).message))));
    assert.equal((reply.error as { code: string }).code, 'unsupported-version');
    await other.close();
  });

  it('rejects every pending request when the helper dies, and later requests too', async () => {
    const transport = startHelperProcess();
    const client = await HelperClient.connect(transport);
    const pending = client.readBtf();
    process.kill(transport.pid, 'SIGKILL');
    await assert.rejects(pending, (e: Error) => e instanceof HelperGoneError && /killed by a signal|closed its output/.test(e.message));
    await assert.rejects(client.call('list', {}), HelperGoneError);
    assert.ok(client.isClosed);
  });

  it('spawns a program stopped as the connecting user, resumes it, and reports its output and exit', async () => {
    const client = await HelperClient.connect(startHelperProcess());
    try {
      const output: string[] = [];
      client.onNotification('processOutput', (p) => output.push(p.text));
      const exited = new Promise<{ code: number | null }>((resolve) => client.onNotification('processExit', resolve));
      const { pid } = await client.call('spawn', { argv: ['/bin/sh', '-c', 'echo started $$'] });
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      assert.equal(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3), 'T', 'spawned process is stopped');
      assert.equal((await client.call('list', {})).processes[0].state, 'stopped');
      await client.call('resume', { pid });
      assert.equal((await exited).code, 0);
      assert.equal(output.join('').trim(), `started ${pid}`, 'the program runs under the pid reported while stopped');
    } finally {
      await client.close();
    }
  });

  it('runs spawned programs as the user who started the helper through sudo, and as root only when asked', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const client = await HelperClient.connect(startHelperProcess({ ...process.env, SUDO_UID: '65534', SUDO_GID: '65534' }));
    try {
      const run = async (asRoot: boolean) => {
        const output: string[] = [];
        const sub = client.onNotification('processOutput', (p) => output.push(p.text));
        const exited = new Promise((resolve) => client.onNotification('processExit', resolve));
        const { pid, uid } = await client.call('spawn', { argv: ['/usr/bin/id', '-u'], asRoot });
        await client.call('resume', { pid });
        await exited;
        sub.dispose();
        return { uid, printed: output.join('').trim() };
      };
      assert.deepEqual(await run(false), { uid: 65534, printed: '65534' });
      assert.deepEqual(await run(true), { uid: 0, printed: '0' });
    } finally {
      await client.close();
    }
  });

  it('has the kernel kill spawned programs when the helper itself is SIGKILLed (util-linux setpriv)', async function () {
    const setpriv = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
    if (!`${setpriv.stdout}`.includes('--pdeathsig')) this.skip();
    const transport = startHelperProcess();
    const client = await HelperClient.connect(transport);
    const { pid } = await client.call('spawn', { argv: ['/bin/sleep', '600'] });
    process.kill(transport.pid, 'SIGKILL');
    await client.closed;
    const deadline = Date.now() + 10_000;
    const state = () => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      } catch {
        return 'gone';
      }
    };
    while (!['gone', 'Z', 'X'].includes(state())) {
      assert.ok(Date.now() < deadline, `spawned process ${pid} survived its helper (state ${state()})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('kills spawned processes (even stopped ones) when the client goes away', async () => {
    const transport = startHelperProcess();
    const client = await HelperClient.connect(transport);
    const { pid } = await client.call('spawn', { argv: ['/bin/sleep', '600'] });
    await transport.close();
    assert.equal(await transport.exited, 0);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });
});
