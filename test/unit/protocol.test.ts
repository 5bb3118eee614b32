// Helper protocol: frame encoding/decoding, event batch framing, request validation against hostile input,
// and the BTF-driven value codec. Plain node, no kernel.
import * as assert from 'node:assert/strict';
import { brotliCompressSync } from 'node:zlib';
import { type BtfTypeDesc } from '../../extension/shared/helperProtocol';
import { BATCH_HEADER_SIZE, encodeEventBatch, encodeMessage, FrameDecoder, FrameKind, frameRecords, iterateRecords, MAX_FRAME_BYTES, ProtocolError, type Frame } from '../../extension/shared/helperFrames';
import { MIN_COMPRESSED_BATCH } from '../../extension/shared/batchCodec';
import { validateClientMessage } from '../../extension/shared/helperSchema';
import { decodeValue, encodeValue, ValueError } from '../../extension/shared/helperValues';

function decodeAll(bytes: Buffer, chunk = bytes.length): Frame[] {
  const d = new FrameDecoder();
  const frames: Frame[] = [];
  for (let i = 0; i < bytes.length; i += chunk) frames.push(...d.push(bytes.subarray(i, i + chunk)));
  d.end();
  return frames;
}

function rawFrame(kind: number, body: Buffer, declared = body.length): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(declared, 0);
  h.writeUInt8(kind, 4);
  return Buffer.concat([h, body]);
}

describe('helper protocol framing', () => {
  it('round-trips messages, blobs and event batches, whole or split into 1-byte chunks', () => {
    const blob = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff));
    const records = frameRecords([{ data: Buffer.from('abc') }, { ring: 3, data: Buffer.alloc(16, 7) }]);
    const stream = Buffer.concat([
      ...encodeMessage({ type: 'request', id: 1, method: 'hello', params: { protocolVersions: [1], client: 'ü' } }),
      ...encodeMessage({ type: 'request', id: 2, method: 'loadObject', params: { name: 'x.bpf.o' } }, blob),
      ...encodeEventBatch({ sessionId: 9, count: 2, sequence: 5, helperDropped: 1, records }),
    ]);
    for (const chunk of [stream.length, 1, 7]) {
      const frames = decodeAll(stream, chunk);
      assert.equal(frames.length, 3);
      assert.equal(frames[0].kind, FrameKind.Message);
      assert.deepEqual((frames[0] as { message: unknown }).message, { type: 'request', id: 1, method: 'hello', params: { protocolVersions: [1], client: 'ü' } });
      assert.equal(frames[1].kind, FrameKind.MessageBlob);
      assert.deepEqual((frames[1] as { blob: Buffer }).blob, blob);
      assert.equal(frames[2].kind, FrameKind.EventBatch);
      const batch = (frames[2] as { batch: { sessionId: number; count: number; sequence: number; helperDropped: number; records: Buffer } }).batch;
      assert.deepEqual([batch.sessionId, batch.count, batch.sequence, batch.helperDropped], [9, 2, 5, 1]);
      const got = [...iterateRecords(batch.records)];
      assert.deepEqual(got.map((r) => [r.ring, r.data.toString('hex')]), [[0, Buffer.from('abc').toString('hex')], [3, '07'.repeat(16)]]);
    }
  });

  it('pads records to 8 bytes exactly like the addon', () => {
    const framed = frameRecords([{ data: Buffer.alloc(1) }, { data: Buffer.alloc(8) }, { data: Buffer.alloc(9) }]);
    assert.equal(framed.length, 8 + 8 + (8 + 8) + (8 + 16));
    assert.equal(framed.readUInt32LE(16), 8);
  });

  it('rejects a declared length above the limit without buffering it, and stays failed', () => {
    const d = new FrameDecoder();
    const h = Buffer.alloc(8);
    h.writeUInt32LE(MAX_FRAME_BYTES + 1, 0);
    h.writeUInt8(1, 4);
    assert.throws(() => d.push(h), (e: ProtocolError) => e.code === 'frame-too-large');
    assert.throws(() => d.push(Buffer.concat(encodeMessage({ type: 'cancel', id: 1 }))), (e: ProtocolError) => e.code === 'frame-too-large');
    assert.equal(d.pendingBytes, 0);
  });

  it('rejects unknown frame kinds and non-zero reserved bytes', () => {
    assert.throws(() => new FrameDecoder().push(rawFrame(9, Buffer.from('{}'))), (e: ProtocolError) => e.code === 'bad-frame-kind');
    const bad = rawFrame(1, Buffer.from('{}'));
    bad[6] = 1;
    assert.throws(() => new FrameDecoder().push(bad), (e: ProtocolError) => e.code === 'bad-frame');
  });

  it('reports a truncated frame at end of stream', () => {
    const whole = Buffer.concat(encodeMessage({ type: 'cancel', id: 3 }));
    const d = new FrameDecoder();
    assert.deepEqual(d.push(whole.subarray(0, whole.length - 2)), []);
    assert.throws(() => d.end(), (e: ProtocolError) => e.code === 'truncated');
    const header = new FrameDecoder();
    header.push(whole.subarray(0, 5));
    assert.throws(() => header.end(), (e: ProtocolError) => e.code === 'truncated');
  });

  it('turns invalid JSON into a parse-error message but keeps the stream usable', () => {
    const d = new FrameDecoder();
    const frames = d.push(Buffer.concat([rawFrame(1, Buffer.from('{"type":')), ...encodeMessage({ type: 'cancel', id: 4 })]));
    assert.equal(frames.length, 2);
    assert.ok((frames[0] as { message: unknown }).message instanceof ProtocolError);
    assert.deepEqual((frames[1] as { message: unknown }).message, { type: 'cancel', id: 4 });
  });

  it('rejects blob frames whose JSON length overruns the body, and batches shorter than their header', () => {
    const body = Buffer.alloc(10);
    body.writeUInt32LE(100, 0);
    assert.throws(() => new FrameDecoder().push(rawFrame(2, body)), (e: ProtocolError) => e.code === 'bad-frame');
    assert.throws(() => new FrameDecoder().push(rawFrame(3, Buffer.alloc(12))), (e: ProtocolError) => e.code === 'bad-frame');
  });

  it('compresses a large batch when asked and hands back the same records; small or unasked batches travel as they are', () => {
    // Tracer-like records: a header with ids and a clock, a comm, a path.
    const records = frameRecords(
      Array.from({ length: 600 }, (_, i) => {
        const data = Buffer.alloc(88);
        data.writeUInt32LE(i % 14, 0);
        data.writeUInt32LE(4242, 4);
        data.writeBigUInt64LE(BigInt(1_000_000 + i * 731), 8);
        data.write('trace_loop', 16);
        data.write('/etc/hostname', 40);
        return { data };
      }),
    );
    const batch = { sessionId: 3, count: 600, sequence: 7, helperDropped: 2, records };
    const packed = Buffer.concat(encodeEventBatch(batch, true));
    assert.ok(packed.length < records.length / 4, `${records.length} bytes of records took ${packed.length} on the wire`);
    const [frame] = decodeAll(packed, 1000);
    assert.equal(frame.kind, FrameKind.EventBatch);
    const got = (frame as Extract<Frame, { kind: FrameKind.EventBatch }>).batch;
    assert.deepEqual([got.sessionId, got.count, got.sequence, got.helperDropped], [3, 600, 7, 2]);
    assert.ok(got.records.equals(records));
    assert.equal(got.compressedBytes, packed.length - 8 - BATCH_HEADER_SIZE);

    const plain = Buffer.concat(encodeEventBatch(batch));
    assert.equal(plain.length, 8 + BATCH_HEADER_SIZE + records.length);
    const small = records.subarray(0, MIN_COMPRESSED_BATCH - 8);
    assert.equal(Buffer.concat(encodeEventBatch({ ...batch, records: small }, true)).length, 8 + BATCH_HEADER_SIZE + small.length);
    for (const bytes of [plain, Buffer.concat(encodeEventBatch({ ...batch, records: small }, true))]) {
      const b = (decodeAll(bytes)[0] as Extract<Frame, { kind: FrameKind.EventBatch }>).batch;
      assert.equal(b.compressedBytes, undefined);
      assert.ok(b.records.equals(bytes.subarray(8 + BATCH_HEADER_SIZE)));
    }
  });

  it('refuses compressed batches that are corrupt, inflate to another size, or carry an unknown codec or reserved bytes', () => {
    const records = frameRecords(
      Array.from({ length: 200 }, (_, i) => {
        const data = Buffer.alloc(40, i & 3);
        data.writeUInt32LE(Math.imul(i + 1, 2654435761) >>> 0, 0);
        return { data };
      }),
    );
    const body = (codec: number, size: number, payload: Buffer, reserved = 0) => {
      const h = Buffer.alloc(BATCH_HEADER_SIZE);
      h.writeUInt8(codec, 24);
      h.writeUInt8(reserved, 25);
      h.writeUInt32LE(size, 28);
      return rawFrame(3, Buffer.concat([h, payload]));
    };
    const packed = brotliCompressSync(records);
    assert.equal((decodeAll(body(1, records.length, packed))[0] as Extract<Frame, { kind: FrameKind.EventBatch }>).batch.records.length, records.length);
    const cases: Array<[Buffer, RegExp]> = [
      [body(1, records.length, Buffer.from(packed).fill(0x5a, 4, 24)), /does not inflate/],
      [body(1, records.length - 8, packed), /does not inflate|inflates to/],
      [body(1, records.length + 8, packed), /inflates to \d+ bytes, not the/],
      [body(1, MAX_FRAME_BYTES + 1, packed), /declares/],
      [body(2, records.length, packed), /unknown event batch codec 2/],
      [body(0, 16, records), /declares a size/],
      [body(1, records.length, packed, 1), /reserved/],
    ];
    for (const [frame, message] of cases) {
      const d = new FrameDecoder();
      assert.throws(() => d.push(frame), (e: ProtocolError) => e instanceof ProtocolError && message.test(e.message), message.source);
      // The stream stays failed: a batch that cannot be read cannot be skipped either.
      assert.throws(() => d.push(Buffer.concat(encodeMessage({ type: 'cancel', id: 1 }))), ProtocolError);
    }
  });

  it('refuses records that claim more bytes than the batch holds', () => {
    const records = frameRecords([{ data: Buffer.alloc(8) }]);
    records.writeUInt32LE(4096, 0);
    assert.throws(() => [...iterateRecords(records)], /declares 4096 bytes/);
    assert.throws(() => [...iterateRecords(Buffer.alloc(5))], /header truncated/);
  });
});

describe('helper request validation', () => {
  const ok = (m: unknown, blob?: Buffer) => {
    const r = validateClientMessage(m, blob);
    assert.ok(r.ok, r.ok ? '' : r.message);
  };
  const bad = (m: unknown, code: string, pattern: RegExp, blob?: Buffer) => {
    const r = validateClientMessage(m, blob);
    assert.equal(r.ok, false, `accepted ${JSON.stringify(m)?.slice(0, 80)}`);
    if (!r.ok) {
      assert.equal(r.code, code);
      assert.match(r.message, pattern);
    }
  };

  it('accepts well-formed requests and cancels', () => {
    ok({ type: 'request', id: 1, method: 'hello', params: { protocolVersions: [1], client: 'vscode' } });
    ok({ type: 'request', id: 2, method: 'attach', params: { objectId: 1, programs: ['a', 'b'] } });
    ok({ type: 'request', id: 3, method: 'loadObject', params: { name: 'probe.bpf.o', globals: { filter_tgid: 5 } } }, Buffer.alloc(16));
    ok({ type: 'request', id: 4, method: 'list' });
    ok({ type: 'cancel', id: 3 });
  });

  it('rejects non-objects, unknown types and bad ids', () => {
    for (const m of [null, 7, 'x', [], true]) bad(m, 'invalid-request', /JSON object/);
    bad({ type: 'response', id: 1 }, 'invalid-request', /unknown message type/);
    bad({ type: 'request', id: 0, method: 'list' }, 'invalid-request', /id must be from 1/);
    bad({ type: 'request', id: 1.5, method: 'list' }, 'invalid-request', /id must be an integer/);
    bad({ type: 'request', id: '1', method: 'list' }, 'invalid-request', /id must be an integer/);
    bad({ type: 'request', id: 1, method: 'list', extra: 1 }, 'invalid-request', /unknown field "extra"/);
  });

  it('rejects unknown methods, including inherited property names', () => {
    bad({ type: 'request', id: 1, method: 'rm -rf /' }, 'unknown-method', /unknown method/);
    bad({ type: 'request', id: 1, method: 'toString' }, 'unknown-method', /unknown method/);
    bad({ type: 'request', id: 1, method: '__proto__' }, 'unknown-method', /unknown method/);
  });

  it('rejects wrong types, unknown fields and missing fields in params', () => {
    bad({ type: 'request', id: 1, method: 'attach', params: { objectId: '1' } }, 'invalid-params', /objectId must be an integer/);
    bad({ type: 'request', id: 1, method: 'attach', params: {} }, 'invalid-params', /objectId is required/);
    bad({ type: 'request', id: 1, method: 'attach', params: { objectId: 1, programs: 'all' } }, 'invalid-params', /programs must be an array/);
    bad({ type: 'request', id: 1, method: 'attach', params: { objectId: 1, force: true } }, 'invalid-params', /unknown field "force"/);
    for (const key of ['constructor', 'toString', '__proto__']) {
      bad({ type: 'request', id: 1, method: 'attach', params: JSON.parse(`{"objectId": 1, "${key}": 1}`) }, 'invalid-params', new RegExp(`unknown field "${key}"`));
    }
    bad({ type: 'request', id: 1, method: 'kill', params: { pid: 1 } }, 'invalid-params', /pid must be from 2/);
    bad({ type: 'request', id: 1, method: 'kill', params: { pid: 99, signal: 'SIGSTOP' } }, 'invalid-params', /signal must be one of/);
    bad({ type: 'request', id: 1, method: 'loadObject', params: { name: '../../etc/x' } }, 'invalid-params', /name is not a file name/, Buffer.alloc(1));
  });

  it('takes paths only absolute, without ".." components (also right after the root) and without control characters', () => {
    const pin = (path: string) => ({ type: 'request', id: 1, method: 'pinLink', params: { objectId: 1, program: 'p', path } });
    for (const path of ['/../etc/x', '/..', '/sys/fs/bpf/../../etc/x', '/sys/fs/bpf/a/..']) bad(pin(path), 'invalid-params', /path has a "\.\." component/);
    for (const path of ['/sys/fs/bpf/a\nb', '/sys/fs/bpf/a\rb', '/sys/fs/bpf/\x1b[2J', '/sys/fs/bpf/a\x7f']) bad(pin(path), 'invalid-params', /path contains a control character/);
    bad(pin('sys/fs/bpf/x'), 'invalid-params', /path is not an absolute path/);
    bad({ type: 'request', id: 1, method: 'readBtf', params: { path: '/../sys/kernel/btf/vmlinux' } }, 'invalid-params', /path has a "\.\." component/);
    bad({ type: 'request', id: 1, method: 'spawn', params: { argv: ['/bin/true'], cwd: '/tmp/\n' } }, 'invalid-params', /cwd contains a control character/);
    for (const path of ['/sys/fs/bpf/a..b', '/sys/fs/bpf/...', '/sys/fs/bpf/bpf-lsm/x.y']) ok(pin(path));
  });

  it('rejects hostile sizes: huge arrays, long strings, deep JSON, NUL bytes', () => {
    const many = Array.from({ length: 5000 }, (_, i) => `p${i}`);
    bad({ type: 'request', id: 1, method: 'attach', params: { objectId: 1, programs: many } }, 'invalid-params', /at most 4096/);
    bad({ type: 'request', id: 1, method: 'attach', params: { objectId: 1, programs: ['x'.repeat(300)] } }, 'invalid-params', /longer than/);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    bad({ type: 'request', id: 1, method: 'mapUpdate', params: { objectId: 1, map: 'm', key: 1, value: deep } }, 'invalid-params', /nested deeper/);
    bad({ type: 'request', id: 1, method: 'spawn', params: { argv: ['/bin/true\0x'] } }, 'invalid-params', /NUL/);
    bad({ type: 'request', id: 1, method: 'spawn', params: { argv: [] } }, 'invalid-params', /at least 1/);
  });

  it('rejects paths outside their area or with ".."', () => {
    bad({ type: 'request', id: 1, method: 'pinLink', params: { objectId: 1, program: 'p', path: 'relative' } }, 'invalid-params', /absolute path/);
    bad({ type: 'request', id: 1, method: 'pinLink', params: { objectId: 1, program: 'p', path: '/sys/fs/bpf/../../etc/x' } }, 'invalid-params', /has a "\.\." component/);
    bad({ type: 'request', id: 1, method: 'spawn', params: { argv: ['ls'], cwd: '/tmp/..' } }, 'invalid-params', /has a "\.\." component/);
  });

  it('enforces the blob rules per method', () => {
    bad({ type: 'request', id: 1, method: 'loadObject', params: { name: 'a.o' } }, 'invalid-params', /needs the object file/);
    bad({ type: 'request', id: 1, method: 'list' }, 'invalid-params', /does not take binary data/, Buffer.alloc(4));
  });
});

describe('BTF value codec', () => {
  const u32: BtfTypeDesc = { kind: 'int', name: 'unsigned int', size: 4, signed: false, bool: false, char: false };
  const s16: BtfTypeDesc = { kind: 'int', name: 'short', size: 2, signed: true, bool: false, char: false };
  const u64: BtfTypeDesc = { kind: 'int', name: 'unsigned long long', size: 8, signed: false, bool: false, char: false };
  const comm: BtfTypeDesc = { kind: 'array', length: 16, size: 16, elem: { kind: 'int', name: 'char', size: 1, signed: true, bool: false, char: true } };
  const mode: BtfTypeDesc = { kind: 'enum', name: 'mode', size: 4, signed: false, values: { OFF: 0, AUDIT: 1, DENY: 2 } };
  const entry: BtfTypeDesc = {
    kind: 'struct',
    name: 'entry',
    size: 40,
    members: [
      { name: 'hits', offset: 0, bitOffset: 0, bitSize: 0, type: u64 },
      { name: 'pid', offset: 8, bitOffset: 64, bitSize: 0, type: u32 },
      { name: 'delta', offset: 12, bitOffset: 96, bitSize: 0, type: s16 },
      { name: 'flag', offset: 14, bitOffset: 112, bitSize: 3, type: u32 },
      { name: 'mode', offset: 16, bitOffset: 128, bitSize: 0, type: mode },
      { name: 'comm', offset: 20, bitOffset: 160, bitSize: 0, type: comm },
    ],
  };

  it('encodes and decodes structs with integers, enums, bitfields and char arrays', () => {
    const bytes = encodeValue(entry, { hits: '18446744073709551615', pid: 4242, delta: -2, flag: 5, mode: 'DENY', comm: 'bash' });
    assert.equal(bytes.length, 40);
    assert.equal(bytes.readUInt32LE(8), 4242);
    assert.equal(bytes.readInt16LE(12), -2);
    assert.equal(bytes[14] & 7, 5);
    assert.equal(bytes.readUInt32LE(16), 2);
    assert.equal(bytes.subarray(20, 24).toString(), 'bash');
    assert.deepEqual(decodeValue(entry, bytes), { hits: '18446744073709551615', pid: 4242, delta: -2, flag: 5, mode: 'DENY', comm: 'bash' });
  });

  it('leaves unnamed members zero and accepts { hex } for raw bytes', () => {
    assert.deepEqual(decodeValue(entry, encodeValue(entry, { pid: 1 })), { hits: 0, pid: 1, delta: 0, flag: 0, mode: 'OFF', comm: '' });
    assert.deepEqual(encodeValue(u32, { hex: '01000000' }), Buffer.from([1, 0, 0, 0]));
    assert.deepEqual(decodeValue(null, Buffer.from([1, 2])), { hex: '0102' });
  });

  it('refuses values that do not fit, unknown members and wrong shapes, with the path', () => {
    assert.throws(() => encodeValue(u32, 2 ** 32), ValueError);
    assert.throws(() => encodeValue(u32, -1), /does not fit/);
    assert.throws(() => encodeValue(s16, 40000), /does not fit/);
    assert.throws(() => encodeValue(entry, { pid: 1, bogus: 2 }), /no member "bogus"/);
    assert.throws(() => encodeValue(entry, { comm: 'x'.repeat(17) }), /value\.comm/);
    assert.throws(() => encodeValue(entry, { flag: 8 }), /3-bit field/);
    assert.throws(() => encodeValue(entry, [1]), /expected an object/);
    assert.throws(() => encodeValue(u32, { hex: '010' }), /even-length/);
    assert.throws(() => encodeValue(u32, 1.5), /not an integer/);
    assert.throws(() => encodeValue(null, { a: 1 }, 'key', 24), /no BTF type/);
  });

  it('encodes untyped keys of up to 8 bytes from integers', () => {
    assert.deepEqual(encodeValue(null, 258, 'key', 4), Buffer.from([2, 1, 0, 0]));
  });
});
