// The helper session in process, with a stand-in for the libbpf addon whose loads the test settles by
// hand: cancellation of a request in flight, ownership (everything closed when the stream ends), the
// in-flight request limit, and the client's delivery of batches that arrive before anyone subscribed.
import * as assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { HelperClient, HelperRequestError } from '../../extension/core/helperClient';
import type { HelperTransport } from '../../extension/core/target';
import { HelperSession } from '../../extension/helper/session';
import { encodeEventBatch, encodeMessage, frameRecords } from '../../extension/shared/helperFrames';
import type { NativeBinding } from '../../native/index';

interface FakeObject {
  name: string;
  closed: boolean;
  settle: () => void;
}

/** `ring`: what the stand-in ring buffer "events" yields, one poll each, then nothing. */
function fakeNative(created: FakeObject[], ring: Array<{ count: number; data: Buffer }> = []): NativeBinding {
  class BpfObject {
    private readonly state: FakeObject;
    private loadedFlag = false;
    private attached = new Set<string>();
    private constructor(name: string) {
      let settle = () => undefined as void;
      this.loadGate = new Promise<void>((r) => (settle = r));
      this.state = { name, closed: false, settle };
      created.push(this.state);
    }
    private readonly loadGate: Promise<void>;
    static openBuffer(_bytes: Buffer, name: string) {
      return new BpfObject(name);
    }
    static openFile(): never {
      throw new Error('not used');
    }
    get name() {
      return this.state.name;
    }
    get loaded() {
      return this.loadedFlag;
    }
    programs() {
      return ['p1', 'p2'].map((name) => ({
        name,
        section: `lsm/${name}`,
        type: 'lsm',
        attachType: 'lsm_mac',
        attachTarget: name,
        autoload: true,
        loaded: this.loadedFlag,
        attached: this.attached.has(name),
        pinned: false,
        instructions: 2,
      }));
    }
    maps() {
      return ring.length ? [{ name: 'events', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 1 << 20 }] : [];
    }
    btf(): Buffer {
      throw Object.assign(new Error('object has no BTF'), { code: 'ENOENT' });
    }
    async load() {
      await this.loadGate;
      this.loadedFlag = true;
      return { logs: {}, truncated: false };
    }
    async attach(names: string[]) {
      return names.map((program) => {
        if (program === 'p2') return { program, ok: false, code: 'EINVAL', errno: 22, message: 'hook p2 is not available' };
        this.attached.add(program);
        return { program, ok: true };
      });
    }
    async close() {
      this.state.closed = true;
    }
  }
  class RingConsumer {
    private next = 0;
    async poll(timeoutMs: number) {
      if (this.next < ring.length) return ring[this.next++];
      await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 5)));
      return { count: 0, data: Buffer.alloc(0) };
    }
    close() {}
  }
  return { BpfObject, RingConsumer, libbpfVersion: '1.1', recordHeaderSize: 8, indexLsmHooks: async () => 0, path: 'fake' } as unknown as NativeBinding;
}

function inProcess(created: FakeObject[], ring?: Array<{ count: number; data: Buffer }>) {
  const toHelper = new PassThrough();
  const fromHelper = new PassThrough();
  const session = new HelperSession({ input: toHelper, output: fromHelper, loadNative: () => fakeNative(created, ring) });
  session.start();
  const transport: HelperTransport = {
    input: toHelper,
    output: fromHelper,
    stderr: new PassThrough(),
    exited: session.finished.then(() => 0),
    close: async () => {
      toHelper.end();
      await session.finished;
    },
  };
  return { session, transport, toHelper, fromHelper };
}

const object = Buffer.from('fake object bytes');

describe('helper session (in process, stand-in addon)', () => {
  it('answers a cancelled load with "cancelled" and does not keep the object', async () => {
    const created: FakeObject[] = [];
    const { transport } = inProcess(created);
    const client = await HelperClient.connect(transport);
    const abort = new AbortController();
    const load = client.loadObject(object, { name: 'slow.bpf.o' }, abort.signal);
    while (created.length === 0) await new Promise((r) => setImmediate(r));
    abort.abort();
    created[0].settle();
    await assert.rejects(load, (e: HelperRequestError) => e.code === 'cancelled');
    assert.equal(created[0].closed, true, 'the object loaded for a cancelled request is closed');
    assert.deepEqual((await client.call('list', {})).objects, []);
    await client.close();
  });

  it('reports attach failures per program, keeps the others, and closes every object when the stream ends', async () => {
    const created: FakeObject[] = [];
    const { transport, session } = inProcess(created);
    const client = await HelperClient.connect(transport);
    const loads = [client.loadObject(object, { name: 'a.bpf.o' }), client.loadObject(object, { name: 'b.bpf.o' })];
    while (created.length < 2) await new Promise((r) => setImmediate(r));
    created.forEach((c) => c.settle());
    const [a] = await Promise.all(loads);
    const { results } = await client.call('attach', { objectId: a.objectId });
    assert.deepEqual(results.map((r) => [r.program, r.ok, r.code]), [['p1', true, undefined], ['p2', false, 'EINVAL']]);
    const listed = await client.call('list', {});
    assert.deepEqual(listed.objects.map((o) => o.programs.map((p) => p.attached)), [[true, false], [false, false]]);
    assert.deepEqual(created.map((c) => c.closed), [false, false]);
    transport.input.end();
    await session.finished;
    assert.deepEqual(created.map((c) => c.closed), [true, true]);
    await assert.rejects(client.call('list', {}), /exited|closed/);
  });

  it('refuses more than 256 requests in flight with "busy" and keeps serving', async () => {
    const created: FakeObject[] = [];
    const { transport } = inProcess(created);
    const client = await HelperClient.connect(transport);
    const loads = Array.from({ length: 257 }, (_, i) => client.loadObject(object, { name: `o${i}.bpf.o` }).then(() => 'ok', (e: HelperRequestError) => e.code));
    while (created.length < 256) await new Promise((r) => setImmediate(r));
    assert.equal(await loads[256], 'busy');
    created.forEach((c) => c.settle());
    const outcomes = await Promise.all(loads.slice(0, 256));
    assert.ok(outcomes.every((o) => o === 'ok'));
    assert.equal((await client.call('list', {})).objects.length, 256);
    await client.close();
    assert.ok(created.every((c) => c.closed));
  });

  it('streams batches compressed on a transport that asks for it and as they are on one that does not', async () => {
    const record = (i: number) => {
      const data = Buffer.alloc(88);
      data.writeUInt32LE(i % 14, 0);
      data.writeBigUInt64LE(BigInt(5_000_000 + i * 977), 8);
      data.write('trace_loop', 16);
      data.write('/etc/hostname', 40);
      return { data };
    };
    const ring = [
      { count: 2, data: frameRecords([record(0), record(1)]) },
      { count: 1000, data: frameRecords(Array.from({ length: 1000 }, (_, i) => record(i + 2))) },
    ];
    const wire: Record<string, number> = {};
    for (const compressEvents of [false, true]) {
      const created: FakeObject[] = [];
      const { transport, fromHelper } = inProcess(created, ring);
      let bytes = 0;
      fromHelper.on('data', (chunk: Buffer) => (bytes += chunk.length));
      const client = await HelperClient.connect({ ...transport, compressEvents });
      const load = client.loadObject(object, { name: 'tracer.bpf.o' });
      while (created.length === 0) await new Promise((r) => setImmediate(r));
      created[0].settle();
      const { objectId } = await load;
      const batches: Array<{ count: number; records: Buffer; compressedBytes?: number }> = [];
      const before = bytes;
      const { sessionId } = await client.startTrace({ objectId, ringBuffers: ['events'] }, (b) => batches.push(b));
      while (batches.length < 2) await new Promise((r) => setTimeout(r, 5));
      const stats = await client.call('stopTrace', { sessionId });
      wire[String(compressEvents)] = bytes - before;
      assert.deepEqual(batches.map((b) => b.count), [2, 1000]);
      assert.ok(batches.every((b, i) => b.records.equals(ring[i].data)), 'the client gets the records the ring held');
      // The first batch is too small to be worth compressing either way.
      assert.deepEqual(batches.map((b) => b.compressedBytes !== undefined), [false, compressEvents]);
      assert.deepEqual([stats.records, stats.bytes], [1002, ring[0].data.length + ring[1].data.length]);
      await client.close();
    }
    assert.ok(wire.true * 4 < wire.false, `the helper wrote ${wire.true} bytes compressed against ${wire.false}`);
  });

  it('delivers batches that arrived before the subscription, in order, then live ones', async () => {
    const helperOut = new PassThrough();
    const transport: HelperTransport = {
      input: new PassThrough(),
      output: helperOut,
      stderr: new PassThrough(),
      exited: new Promise(() => undefined),
      close: async () => undefined,
    };
    (transport.input as PassThrough).once('data', () => {
      // The scripted helper answers hello, then sends two batches of session 5 before anyone subscribed.
      helperOut.write(Buffer.concat(encodeMessage({ type: 'response', id: 1, result: { protocolVersion: 1, helperVersion: 't', pid: 1, capabilities: {} } })));
      for (const seq of [0, 1]) helperOut.write(Buffer.concat(encodeEventBatch({ sessionId: 5, count: 1, sequence: seq, helperDropped: 0, records: frameRecords([{ data: Buffer.from([seq]) }]) })));
    });
    const client = await HelperClient.connect(transport);
    await new Promise((r) => setImmediate(r));
    const seen: number[] = [];
    client.onEvents(5, (b) => seen.push(b.sequence));
    assert.deepEqual(seen, [0, 1]);
    helperOut.write(Buffer.concat(encodeEventBatch({ sessionId: 5, count: 0, sequence: 2, helperDropped: 0, records: Buffer.alloc(0) })));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, [0, 1, 2]);
  });
});
