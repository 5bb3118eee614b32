// Fault and abuse of the privileged helper's stdin (issue 9): tens of thousands of generated malformed frames
// into the real helper process (dist/helper.js), malformed and oversized BPF objects through loadObject, and
// frames that break the framing itself. Every case prints a figure (frames, replies, ms, bytes of memory).
// Plain node: the host kernel refuses LSM programs, but libbpf opens objects without privileges.
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { type HelperMethod } from '../../extension/shared/helperProtocol';
import { encodeEventBatch, encodeMessage, FrameDecoder, FrameKind, MAX_JSON_BYTES } from '../../extension/shared/helperFrames';
import { HelperSession } from '../../extension/helper/session';
import type { NativeBinding } from '../../native/index';
import { bpfObjectWithPrograms, corruptions, withSymbolValue } from '../fixtures/malformed/elf';

const root = join(__dirname, '..', '..', '..');
const helperJs = join(root, 'dist', 'helper.js');
const probeObject = () => readFileSync(join(root, 'dist', 'bpf', 'helper_test.bpf.o'));

interface Reply {
  type: string;
  id?: number;
  method?: string;
  result?: unknown;
  error?: { code: string; message: string; remedy?: string };
}

/** A deterministic generator, so a failing frame can be reproduced from the seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function rawFrame(kind: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(body.length, 0);
  h[4] = kind;
  return Buffer.concat([h, body]);
}

/** The real helper process, raw: write bytes, collect decoded replies, read its memory from /proc. */
class RawHelper {
  readonly child: ChildProcessWithoutNullStreams;
  readonly replies: Reply[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private readonly decoder = new FrameDecoder();
  private waiters: Array<() => void> = [];
  stderr = '';

  constructor(nodeOptions: string[] = []) {
    this.child = spawn(process.execPath, [...nodeOptions, helperJs], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child.stdin.on('error', () => undefined);
    this.child.stderr.setEncoding('utf8').on('data', (t: string) => (this.stderr = (this.stderr + t).slice(-4000)));
    this.child.stdout.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) if (f.kind !== FrameKind.EventBatch) this.replies.push(f.message as Reply);
      this.waiters.splice(0).forEach((w) => w());
    });
    this.child.stdout.once('end', () => this.waiters.splice(0).forEach((w) => w()));
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => (this.child.stdin.write(bytes) ? resolve() : this.child.stdin.once('drain', resolve)));
  }

  send(message: unknown, blob?: Buffer): Promise<void> {
    return this.write(Buffer.concat(encodeMessage(message as object, blob)));
  }

  async until(count: number, timeoutMs = 60_000): Promise<Reply[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length < count) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the helper exited after ${this.replies.length} of ${count} replies: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`only ${this.replies.length} of ${count} replies within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000);
      });
    }
    return this.replies;
  }

  /** Resident and peak resident memory of the helper process, in bytes. */
  memory(): { rss: number; peak: number } {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  }

  async hello(): Promise<void> {
    const before = this.replies.length;
    await this.send({ type: 'request', id: 1, method: 'hello', params: { protocolVersions: [1], client: 'fuzz' } });
    const [reply] = (await this.until(before + 1)).slice(before);
    assert.ok(reply.result, JSON.stringify(reply));
  }

  private listId = 900_000_000;
  async list(): Promise<unknown> {
    const id = this.listId++;
    const before = this.replies.length;
    await this.send({ type: 'request', id, method: 'list', params: {} });
    for (let n = before + 1; ; n++) {
      const found = (await this.until(n)).slice(before).find((r) => r.id === id);
      if (found) return found.result;
    }
  }

  async close(): Promise<{ code: number | null; signal: string | null }> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

const MiB = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;

// ---------------------------------------------------------------------------------------------------------
// Frame generator

/** Methods a fuzzed request may name: none of these can change the host (no spawn, no shutdown, no pins). */
const harmless: HelperMethod[] = ['capabilities', 'list', 'attach', 'detach', 'unloadObject', 'mapLookup', 'mapUpdate', 'mapDelete', 'mapEntries', 'getGlobal', 'setGlobal', 'startTrace', 'stopTrace', 'traceStats', 'resume', 'kill', 'loadObject'];
/** Junk params can happen to be valid for these (an empty object): they may answer with a result. */
const noParams = new Set(['capabilities', 'list']);

interface Planned {
  bytes: Buffer;
  /** Request id whose single reply is expected; 0: an anonymous error reply; undefined: no reply (a cancel). */
  replyId?: number;
  kind: string;
}

function junkValue(rnd: () => number, depth = 0): unknown {
  const pick = Math.floor(rnd() * (depth > 3 ? 6 : 9));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rnd() < 0.5;
    case 2:
      return Math.floor(rnd() * 2 ** 40) - 2 ** 39;
    case 3:
      return [1e308 * 10, -0, 0.5, 2 ** 53 + 1][Math.floor(rnd() * 4)];
    case 4:
      return ['', '\0', '../../etc/shadow', '/etc/shadow', '%s%n', '\u202e', 'x'.repeat(300), '<script>'][Math.floor(rnd() * 8)];
    case 5:
      return '__proto__';
    case 6:
      return Array.from({ length: Math.floor(rnd() * 4) }, () => junkValue(rnd, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 4); i > 0; i--) o[['objectId', 'map', 'key', 'programs', 'path', 'constructor', 'x'][Math.floor(rnd() * 7)]] = junkValue(rnd, depth + 1);
      return o;
    }
  }
}

/** One malformed (or, for interleaved cancels, racing) frame. Ids >= 1000 are unique per frame. */
function planFrame(rnd: () => number, id: number): Planned[] {
  const r = rnd();
  const request = (method: string, params: unknown, blob?: Buffer): Buffer => Buffer.concat(encodeMessage({ type: 'request', id, method, params } as object, blob));
  if (r < 0.12) {
    // Truncated JSON inside an intact frame.
    const json = JSON.stringify({ type: 'request', id, method: 'list', params: {} });
    return [{ bytes: rawFrame(FrameKind.Message, Buffer.from(json.slice(0, Math.floor(rnd() * (json.length - 1))))), replyId: 0, kind: 'truncated JSON' }];
  }
  if (r < 0.2) {
    // Invalid UTF-8 and raw binary where JSON should be.
    const junk = Buffer.alloc(1 + Math.floor(rnd() * 64));
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rnd() * 256);
    junk[0] = 0xff;
    return [{ bytes: rawFrame(FrameKind.Message, junk), replyId: 0, kind: 'binary body' }];
  }
  if (r < 0.28) {
    // JSON that is not a request object (wrong type of message).
    // A usable numeric id is echoed in the error reply; anything else is answered with id 0.
    const values: Array<[unknown, number]> = [[null, 0], [7, 0], ['hello', 0], [[1, 2], 0], [true, 0], [{ type: 'response', id, result: {} }, id], [{ type: 'notification', method: 'log' }, 0], [{ id }, id], [{ type: 'request', id: -id, method: 'list' }, 0]];
    const [value, replyId] = values[Math.floor(rnd() * values.length)];
    return [{ bytes: Buffer.concat(encodeMessage(value as object)), replyId, kind: 'not a request' }];
  }
  if (r < 0.38) {
    const names = ['nope', 'toString', '__proto__', 'constructor', 'hasOwnProperty', 'HELLO', 'hello ', 'spawn\0', 'x'.repeat(64), 'valueOf'];
    return [{ bytes: request(names[Math.floor(rnd() * names.length)], {}), replyId: id, kind: 'unknown method' }];
  }
  if (r < 0.62) {
    // A known method with junk params: wrong types, unknown fields, missing fields.
    const method = harmless[Math.floor(rnd() * harmless.length)];
    const params = junkValue(rnd);
    const blob = method === 'loadObject' ? Buffer.from('not an object') : undefined;
    return [{ bytes: request(method, params, blob), replyId: id, kind: noParams.has(method) ? 'junk params (no-params method)' : 'junk params' }];
  }
  if (r < 0.72) {
    // Well-formed requests naming things that do not exist.
    const shapes: Array<[string, unknown]> = [
      ['attach', { objectId: 1 + Math.floor(rnd() * 1e6) }],
      ['mapLookup', { objectId: 3, map: 'm', key: 1 }],
      ['stopTrace', { sessionId: 9 }],
      ['resume', { pid: 2 + Math.floor(rnd() * 1e6) }],
      ['kill', { pid: 2 + Math.floor(rnd() * 1e6), signal: 'SIGKILL' }],
      ['readBtf', { path: '/etc/shadow' }],
      ['readBtf', { path: '/sys/kernel/btf/../../../etc/shadow' }],
    ];
    const [method, params] = shapes[Math.floor(rnd() * shapes.length)];
    return [{ bytes: request(method, params), replyId: id, kind: 'unknown object' }];
  }
  if (r < 0.8) {
    // A blob on a method that takes none, or a garbage object to loadObject.
    const blob = Buffer.alloc(Math.floor(rnd() * 4096), Math.floor(rnd() * 256));
    return rnd() < 0.5
      ? [{ bytes: request('list', {}, blob), replyId: id, kind: 'unexpected blob' }]
      : [{ bytes: request('loadObject', { name: 'fuzz.bpf.o' }, blob), replyId: id, kind: 'garbage object' }];
  }
  if (r < 0.86) {
    // An event batch from the client side, which only the helper may send; half of them claim to be
    // compressed, with junk that would fail to inflate (or inflate to 64 MiB) if the helper tried.
    const bytes = Buffer.concat(encodeEventBatch({ sessionId: 1, count: 1, sequence: 0, helperDropped: 0, records: Buffer.alloc(16 + Math.floor(rnd() * 64), Math.floor(rnd() * 256)) }));
    if (rnd() < 0.5) {
      bytes.writeUInt8(1, 8 + 24);
      bytes.writeUInt32LE(64 << 20, 8 + 28);
    }
    return [{ bytes, replyId: 0, kind: 'client event batch' }];
  }
  if (r < 0.9) {
    // Bounded sizes: deep nesting, long lists, long strings.
    let deep: unknown = 1;
    for (let i = 0; i < 64; i++) deep = [deep];
    const variants = [
      { objectId: 1, map: 'm', key: 1, value: deep },
      { objectId: 1, programs: Array.from({ length: 5000 }, (_, i) => `p${i}`) },
      { objectId: 1, map: 'm'.repeat(5000), key: 1 },
    ];
    const v = Math.floor(rnd() * variants.length);
    return [{ bytes: request(['mapUpdate', 'attach', 'mapLookup'][v], variants[v]), replyId: id, kind: 'oversized params' }];
  }
  if (r < 0.95) {
    // A cancel for an id nobody used: no reply at all.
    return [{ bytes: Buffer.concat(encodeMessage({ type: 'cancel', id: 1 + Math.floor(rnd() * 1e9) })), kind: 'stray cancel' }];
  }
  // A real request and its cancel back to back: exactly one reply, a result or "cancelled".
  const racing: Array<[string, unknown, Buffer?]> = [
    ['list', {}],
    ['capabilities', {}],
    ['loadObject', { name: 'race.bpf.o' }, Buffer.from('garbage')],
  ];
  const [method, params, blob] = racing[Math.floor(rnd() * racing.length)];
  return [
    { bytes: request(method, params, blob), replyId: id, kind: 'cancelled request' },
    { bytes: Buffer.concat(encodeMessage({ type: 'cancel', id })), kind: 'cancel' },
  ];
}

/** Writes a round of frames in random-sized chunks (frames split across writes) and checks every reply. */
async function fuzzRound(helper: RawHelper, seed: number, frames: number, firstId: number): Promise<{ kinds: Map<string, number>; bytes: number; replies: number }> {
  const rnd = prng(seed);
  const planned: Planned[] = [];
  for (let i = 0; planned.filter((p) => p.kind !== 'cancel').length < frames; i++) planned.push(...planFrame(rnd, firstId + i));
  const stream = Buffer.concat(planned.map((p) => p.bytes));
  const before = helper.replies.length;
  for (let at = 0; at < stream.length; ) {
    const n = 1 + Math.floor(rnd() * 8192);
    await helper.write(stream.subarray(at, at + n));
    at += n;
  }
  const expected = planned.filter((p) => p.replyId !== undefined).length;
  const replies = (await helper.until(before + expected)).slice(before);
  // Nothing beyond the expected replies arrives (a stray cancel must stay silent): a list request is
  // answered right after the last of them.
  await helper.send({ type: 'request', id: firstId - 1, method: 'list', params: {} });
  const all = (await helper.until(before + expected + 1)).slice(before);
  assert.equal(all.length, expected + 1, 'one reply per frame that asks for one, and none for cancels');
  const listed = all[expected];
  assert.equal(listed.id, firstId - 1);
  assert.deepEqual(listed.result, { objects: [], traces: [], processes: [] }, 'no junk frame left anything behind');

  const byId = new Map<number, Reply[]>();
  for (const r of replies) {
    assert.equal(r.type, 'response', JSON.stringify(r).slice(0, 200));
    byId.set(r.id ?? -1, [...(byId.get(r.id ?? -1) ?? []), r]);
  }
  const kinds = new Map<string, number>();
  for (const p of planned) {
    kinds.set(p.kind, (kinds.get(p.kind) ?? 0) + 1);
    if (!p.replyId) continue;
    const got = byId.get(p.replyId) ?? [];
    assert.equal(got.length, 1, `request ${p.replyId} (${p.kind}) got ${got.length} replies`);
    const reply = got[0];
    if (p.kind === 'junk params (no-params method)') {
      assert.ok(reply.result !== undefined || (reply.error && reply.error.code !== 'internal'), JSON.stringify(reply));
    } else if (p.kind === 'cancelled request') {
      assert.ok(reply.result !== undefined || ['cancelled', 'invalid-params', 'busy'].includes(reply.error?.code ?? ''), JSON.stringify(reply));
    } else {
      assert.ok(reply.error, `${p.kind} was accepted: ${JSON.stringify(reply).slice(0, 200)}`);
      assert.ok(reply.error.message.length > 0 && reply.error.message.length < 4096, 'a bounded, non-empty error message');
      assert.notEqual(reply.error.code, 'internal', `${p.kind}: ${reply.error.message}`);
    }
  }
  const anonymous = planned.filter((p) => p.replyId === 0).length;
  assert.equal(byId.get(0)?.length ?? 0, anonymous, 'frames without a usable id get one anonymous error each');
  for (const r of byId.get(0) ?? []) assert.ok(['parse-error', 'invalid-request'].includes(r.error?.code ?? ''), JSON.stringify(r));
  return { kinds, bytes: stream.length, replies: replies.length };
}

describe('hardening: protocol fuzzing of the helper process', function () {
  this.timeout(300_000);

  it('answers 3 x 10,000 malformed frames with one error each, keeps serving, and its memory stays bounded', async () => {
    // A V8 heap capped at 64 MiB: anything the helper kept per frame would end in an out-of-memory abort
    // long before 30,000 frames, so surviving with a flat RSS is the proof that memory is bounded.
    const helper = new RawHelper(['--max-old-space-size=64']);
    try {
      await helper.hello();
      const start = helper.memory();
      const rounds: Array<{ ms: number; rss: number; bytes: number; replies: number }> = [];
      let kinds = new Map<string, number>();
      for (let round = 0; round < 3; round++) {
        const t = Date.now();
        const r = await fuzzRound(helper, 0x9e3779b9 + round, 10_000, 1_000 + round * 100_000);
        rounds.push({ ms: Date.now() - t, rss: helper.memory().rss, bytes: r.bytes, replies: r.replies });
        kinds = r.kinds;
      }
      const end = helper.memory();
      console.log(
        `      fuzz: 3 rounds of 10000 frames (${rounds.map((r) => `${MiB(r.bytes)}, ${r.replies} replies, ${r.ms} ms`).join('; ')}); ` +
          `helper (V8 heap capped at 64 MiB) RSS ${MiB(start.rss)} after hello -> ${rounds.map((r) => MiB(r.rss)).join(' -> ')}, peak ${MiB(end.peak)}`,
      );
      console.log(`      fuzz: frame kinds of the last round: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
      assert.ok(end.peak < start.rss + (96 << 20), `peak RSS ${MiB(end.peak)} against ${MiB(start.rss)} at start`);
      assert.deepEqual(await helper.close(), { code: 0, signal: null });
    } finally {
      helper.child.kill('SIGKILL');
    }
  });

  it('ends the session cleanly on each frame that breaks the framing, without buffering a declared length', async () => {
    const header = (length: number, kind: number, reserved = 0) => {
      const h = Buffer.alloc(8);
      h.writeUInt32LE(length, 0);
      h[4] = kind;
      h[5] = reserved;
      return h;
    };
    const blobOverrun = Buffer.alloc(12);
    blobOverrun.writeUInt32LE(100, 0);
    const cases: Array<[string, Buffer]> = [
      ['length 4 GiB - 1', header(0xffffffff, 1)],
      ['message just over the JSON limit', header(MAX_JSON_BYTES + 1, 1)],
      ['unknown frame kind', header(2, 7)],
      ['reserved byte set', header(2, 1, 1)],
      ['blob JSON length past the body', rawFrame(2, blobOverrun)],
      ['event batch shorter than its header', rawFrame(3, Buffer.alloc(12))],
    ];
    // The decoder refuses an oversized message from its header alone (it used to wait for ~68 MiB first).
    const decoder = new FrameDecoder();
    assert.throws(() => decoder.push(header(MAX_JSON_BYTES + 1, 1)), /message of \d+ bytes exceeds/);
    assert.equal(decoder.pendingBytes, 0);
    const figures: string[] = [];
    for (const [name, bytes] of cases) {
      const helper = new RawHelper();
      try {
        await helper.hello();
        const t = Date.now();
        await helper.write(bytes);
        const exit = await helper.exited;
        const ms = Date.now() - t;
        assert.deepEqual(exit, { code: 0, signal: null }, name);
        const log = helper.replies.find((r) => r.type === 'notification' && r.method === 'log');
        assert.match(JSON.stringify(log), /protocol error, closing the session/, name);
        figures.push(`${name} ${ms} ms`);
      } finally {
        helper.child.kill('SIGKILL');
      }
    }
    console.log(`      fuzz: ${cases.length} framing errors each ended the session with exit 0: ${figures.join(', ')}`);
  });

  it('survives 1,000 random byte streams in process: each session ends or answers, and owns nothing after', async () => {
    const rnd = prng(7);
    let ended = 0;
    let answered = 0;
    let bytes = 0;
    const t = Date.now();
    for (let i = 0; i < 1000; i++) {
      const input = new PassThrough();
      const output = new PassThrough();
      const replies: Buffer[] = [];
      output.on('data', (c: Buffer) => replies.push(c));
      const session = new HelperSession({ input, output, loadNative: () => ({ libbpfVersion: '1.1', indexLsmHooks: async () => 0 }) as unknown as NativeBinding });
      session.start();
      const junk = Buffer.alloc(8 + Math.floor(rnd() * 512));
      for (let k = 0; k < junk.length; k++) junk[k] = Math.floor(rnd() * 256);
      // Half of them start with a plausible header, so the body decoder is reached too.
      if (i % 2 === 0) {
        junk.writeUInt32LE(Math.floor(rnd() * 600), 0);
        junk[4] = 1 + (i % 3);
        junk.fill(0, 5, 8);
      }
      bytes += junk.length;
      input.end(junk);
      await session.finished;
      ended++;
      if (replies.length) answered++;
      const out = new FrameDecoder().push(Buffer.concat(replies));
      for (const f of out) assert.notEqual(f.kind, FrameKind.EventBatch);
    }
    console.log(`      fuzz: 1000 random streams (${bytes} bytes) in ${Date.now() - t} ms: ${ended} sessions ended cleanly, ${answered} answered before ending`);
    assert.equal(ended, 1000);
  });
});

describe('hardening: malformed BPF objects through loadObject', function () {
  this.timeout(300_000);

  /** Loads each object through the helper process and returns the replies in order. */
  async function loadAll(helper: RawHelper, objects: Buffer[], firstId: number): Promise<Reply[]> {
    const before = helper.replies.length;
    // At most 200 in flight: the helper answers "busy" beyond 256, by design.
    for (let i = 0; i < objects.length; i++) {
      if (i >= 200) await helper.until(before + i - 199, 120_000);
      await helper.send({ type: 'request', id: firstId + i, method: 'loadObject', params: { name: `malformed-${i}.bpf.o` } }, objects[i]);
    }
    const replies = (await helper.until(before + objects.length, 120_000)).slice(before);
    return objects.map((_, i) => replies.find((r) => r.id === firstId + i) as Reply);
  }

  it('refuses every truncation of a real object with a clear open error', async () => {
    const object = probeObject();
    const helper = new RawHelper();
    try {
      await helper.hello();
      const cuts = Array.from({ length: object.length }, (_, n) => object.subarray(0, n)).filter((b) => b.length > 0);
      const t = Date.now();
      const replies = await loadAll(helper, cuts, 10);
      const reasons = new Map<string, number>();
      for (const r of replies) {
        assert.equal(r.error?.code, 'invalid-params', JSON.stringify(r).slice(0, 300));
        assert.match(r.error.message, /is not a usable BPF object: cannot open BPF object/);
        assert.doesNotMatch(r.error.message, /Unknown error 40\d\d/, 'libbpf codes are spelled out');
        assert.match(r.error.remedy ?? '', /clang/);
        const reason = r.error.message.split('\n').pop()!.replace(/malformed-\d+\.bpf\.o/g, 'X').replace(/\d+/g, 'N');
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
      console.log(`      objects: ${cuts.length} truncations of a ${object.length}-byte object refused in ${Date.now() - t} ms; libbpf reasons: ${[...reasons].map(([k, n]) => `"${k}" x${n}`).join(', ')}`);
      assert.deepEqual(await helper.list(), { objects: [], traces: [], processes: [] });
      assert.deepEqual(await helper.close(), { code: 0, signal: null });
    } finally {
      helper.child.kill('SIGKILL');
    }
  });

  it('answers 2,000 randomly corrupted objects without dying, also those that crash libbpf', async () => {
    const object = probeObject();
    const rnd = prng(0x5eed);
    const mutants = Array.from({ length: 2000 }, () => {
      const m = Buffer.from(object);
      for (let k = 0; k < 4; k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      return m;
    });
    const helper = new RawHelper();
    try {
      await helper.hello();
      const t = Date.now();
      const replies = await loadAll(helper, mutants, 500_000);
      const ms = Date.now() - t;
      const outcomes = new Map<string, number>();
      let crashes = 0;
      for (const r of replies) {
        assert.ok(r, 'every object got a reply');
        const key = r.error ? r.error.code : 'loaded';
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        if (/libbpf crashed while opening it/.test(r.error?.message ?? '')) crashes++;
        assert.notEqual(r.error?.code, 'internal', r.error?.message);
      }
      assert.equal(helper.child.exitCode, null, 'the helper is still running');
      assert.equal(helper.child.signalCode, null);
      const listed = (await helper.list()) as { objects: unknown[] };
      assert.equal(listed.objects.length, outcomes.get('loaded') ?? 0);
      console.log(`      objects: 2000 objects with 4 random bytes changed answered in ${ms} ms (${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')}); ${crashes} crashed libbpf in the check process, 0 crashed the helper`);
      assert.deepEqual(await helper.close(), { code: 0, signal: null });
    } finally {
      helper.child.kill('SIGKILL');
    }
  });

  it('survives an object whose global lies outside its section (offset 0xfffffff8) and answers the next request', async () => {
    // 0xfffffff8 + 8 wraps to 0 in 32 bits: a bounds check in 32-bit arithmetic let setGlobal write 4 GiB
    // past the section's storage, and the helper died by SIGSEGV.
    const crafted = withSymbolValue(probeObject(), 'cookie', 0xfffffff8n);
    const helper = new RawHelper();
    try {
      await helper.hello();
      const before = helper.replies.length;
      await helper.send({ type: 'request', id: 77, method: 'loadObject', params: { name: 'crafted.bpf.o', globals: { cookie: 7 } } }, crafted);
      const [reply] = (await helper.until(before + 1, 60_000)).slice(before);
      assert.ok(reply.error, JSON.stringify(reply).slice(0, 300));
      assert.match(reply.error.message, /cookie/);
      assert.deepEqual(await helper.list(), { objects: [], traces: [], processes: [] }, 'the session still answers, and kept nothing');
      console.log(`      objects: out-of-range global refused with ${reply.error.code}: ${reply.error.message.split('\n')[0]}`);
      assert.deepEqual(await helper.close(), { code: 0, signal: null });
    } finally {
      helper.child.kill('SIGKILL');
    }
  });

  it('names what is wrong with a wrong machine, class, byte order or corrupt BTF, and refuses 10,000 programs before loading', async () => {
    const helper = new RawHelper();
    try {
      await helper.hello();
      const cases = corruptions(probeObject());
      const t = Date.now();
      const replies = await loadAll(helper, cases.map((c) => c.bytes), 100_000);
      cases.forEach((c, i) => {
        const e = replies[i].error;
        assert.equal(e?.code, 'invalid-params', `${c.name}: ${JSON.stringify(replies[i]).slice(0, 300)}`);
        assert.match(e.message, c.expect, c.name);
        assert.doesNotMatch(e.message, /Unknown error 40\d\d/, c.name);
      });
      const corruptMs = Date.now() - t;

      const many = bpfObjectWithPrograms(10_000);
      const t2 = Date.now();
      const [big] = await loadAll(helper, [many], 200_000);
      const bigMs = Date.now() - t2;
      assert.equal(big.error?.code, 'too-large', JSON.stringify(big).slice(0, 300));
      assert.match(big.error.message, /has 10000 programs; the helper loads at most 4096/);
      // The limit is about counts, not shape: the same generator's small object opens and reaches the kernel.
      const [small] = await loadAll(helper, [bpfObjectWithPrograms(3)], 300_000);
      assert.notEqual(small.error?.code, 'invalid-params', JSON.stringify(small).slice(0, 300));
      assert.notEqual(small.error?.code, 'too-large');
      const listed = (await helper.list()) as { objects: unknown[] };
      assert.equal(listed.objects.length, small.result ? 1 : 0, 'only an object that loaded is kept');
      console.log(
        `      objects: ${cases.length} corruptions refused in ${corruptMs} ms (${cases.map((c) => c.name).join(', ')}); ` +
          `10,000-program object (${MiB(many.length)}) refused in ${bigMs} ms; 3-program object: ${small.error?.code ?? 'loaded'}`,
      );
      assert.deepEqual(await helper.close(), { code: 0, signal: null });
    } finally {
      helper.child.kill('SIGKILL');
    }
  });
});
