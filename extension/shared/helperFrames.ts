// The frames of the client <-> helper byte stream (helperProtocol.ts has the messages they carry).
//
// Frame: 8-byte header (u32 LE body length, u8 kind, u8 0, u16 0) then the body.
//   kind 1 MESSAGE        body = UTF-8 JSON of one HelperMessage
//   kind 2 MESSAGE_BLOB   body = u32 LE JSON length, the JSON, then raw bytes (BPF objects, BTF)
//   kind 3 EVENT_BATCH    body = 32-byte batch header, then ring buffer records exactly as the addon
//                         returns them (u32 length, u16 ring, u16 0, payload, pad to 8), or those records
//                         brotli-compressed when the header's codec byte says so (startTrace's compress)
// A stream whose framing breaks (bad kind, oversized length, truncated header) cannot be resynchronised:
// the reader reports one ProtocolError and stops.
import { BatchCodec, compressRecords, unpackRecords } from './batchCodec';
import type { ClientMessage, HelperMessage } from './helperProtocol';

export const FRAME_HEADER_SIZE = 8;
export const BATCH_HEADER_SIZE = 32;
export const RECORD_HEADER_SIZE = 8;
/** Largest JSON part: requests are small; replies listing hundreds of programs stay far below this. */
export const MAX_JSON_BYTES = 4 << 20;
/** Largest blob: a BPF object or a kernel's BTF (vmlinux BTF is ~6 MiB on a distribution kernel). */
export const MAX_BLOB_BYTES = 64 << 20;
export const MAX_FRAME_BYTES = 4 + MAX_JSON_BYTES + MAX_BLOB_BYTES;

export const enum FrameKind {
  Message = 1,
  MessageBlob = 2,
  EventBatch = 3,
}

export interface EventBatch {
  sessionId: number;
  /** Number of records in `records`. */
  count: number;
  /** Increments by one per batch of a session; a gap means batches were dropped (counted in helperDropped). */
  sequence: number;
  /** Records of this session dropped by the helper so far. */
  helperDropped: number;
  /** Framed records (see iterateRecords), as decoded when they travelled compressed. */
  records: Buffer;
  /** Bytes the records took on the wire when they travelled compressed. */
  compressedBytes?: number;
}

export type Frame =
  | { kind: FrameKind.Message; message: unknown; blob?: undefined }
  | { kind: FrameKind.MessageBlob; message: unknown; blob: Buffer }
  | { kind: FrameKind.EventBatch; batch: EventBatch };

export class ProtocolError extends Error {
  constructor(
    readonly code: 'frame-too-large' | 'bad-frame-kind' | 'bad-frame' | 'truncated' | 'parse-error',
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function header(bodyLength: number, kind: FrameKind): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_SIZE);
  h.writeUInt32LE(bodyLength, 0);
  h.writeUInt8(kind, 4);
  return h;
}

/** Encodes a message (and an optional blob) as one frame, as a list of buffers for a single writev. */
export function encodeMessage(message: ClientMessage | HelperMessage | object, blob?: Buffer): Buffer[] {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  if (json.length > MAX_JSON_BYTES) throw new ProtocolError('frame-too-large', `message of ${json.length} bytes exceeds ${MAX_JSON_BYTES}`);
  if (!blob) return [header(json.length, FrameKind.Message), json];
  if (blob.length > MAX_BLOB_BYTES) throw new ProtocolError('frame-too-large', `blob of ${blob.length} bytes exceeds ${MAX_BLOB_BYTES}`);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  return [header(4 + json.length + blob.length, FrameKind.MessageBlob), len, json, blob];
}

/**
 * Encodes an event batch. `records` is passed through untouched (no per-record work on the hot path), or
 * compressed as a whole when `compress` is set and the batch is large enough to be worth it.
 */
export function encodeEventBatch(batch: EventBatch, compress = false): Buffer[] {
  const h = Buffer.alloc(BATCH_HEADER_SIZE);
  h.writeUInt32LE(batch.sessionId, 0);
  h.writeUInt32LE(batch.count, 4);
  h.writeBigUInt64LE(BigInt(batch.sequence), 8);
  h.writeBigUInt64LE(BigInt(batch.helperDropped), 16);
  let records = batch.records;
  const packed = compress ? compressRecords(records) : undefined;
  if (packed) {
    h.writeUInt8(BatchCodec.Brotli, 24);
    h.writeUInt32LE(records.length, 28);
    records = packed;
  }
  const body = BATCH_HEADER_SIZE + records.length;
  if (body > MAX_FRAME_BYTES) throw new ProtocolError('frame-too-large', `event batch of ${body} bytes exceeds ${MAX_FRAME_BYTES}`);
  return [header(body, FrameKind.EventBatch), h, records];
}

/**
 * Incremental frame reader: feed chunks as they arrive, get whole frames. After a framing error every
 * later push throws the same error (a byte stream cannot be resynchronised).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: ProtocolError | undefined;

  /**
   * `inflateBatches` false: batch frames come back with their body unread (the helper refuses any batch, so
   * a client's compressed one is never inflated there).
   */
  constructor(
    private readonly maxFrameBytes = MAX_FRAME_BYTES,
    private readonly inflateBatches = true,
  ) {}

  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.buffered >= FRAME_HEADER_SIZE) {
      const head = this.peek(FRAME_HEADER_SIZE);
      const length = head.readUInt32LE(0);
      const kind = head.readUInt8(4);
      if (kind !== FrameKind.Message && kind !== FrameKind.MessageBlob && kind !== FrameKind.EventBatch) {
        this.fail(new ProtocolError('bad-frame-kind', `unknown frame kind ${kind}`));
      }
      if (head.readUInt8(5) !== 0 || head.readUInt16LE(6) !== 0) this.fail(new ProtocolError('bad-frame', 'reserved frame header bytes are not zero'));
      if (length > this.maxFrameBytes) {
        this.fail(new ProtocolError('frame-too-large', `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`));
      }
      // Decided from the header, so a peer cannot make us buffer ~68 MiB for a message that is refused anyway.
      if (kind === FrameKind.Message && length > MAX_JSON_BYTES) {
        this.fail(new ProtocolError('frame-too-large', `message of ${length} bytes exceeds ${MAX_JSON_BYTES}`));
      }
      if (this.buffered < FRAME_HEADER_SIZE + length) break;
      this.take(FRAME_HEADER_SIZE);
      const body = this.take(length);
      frames.push(this.decodeBody(kind as FrameKind, body));
    }
    return frames;
  }

  /** Call at end of stream: a partial frame left over is an error. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.buffered > 0) this.fail(new ProtocolError('truncated', `stream ended inside a frame (${this.buffered} bytes left over)`));
  }

  private decodeBody(kind: FrameKind, body: Buffer): Frame {
    if (kind === FrameKind.EventBatch) {
      if (body.length < BATCH_HEADER_SIZE) this.fail(new ProtocolError('bad-frame', `event batch of ${body.length} bytes is shorter than its header`));
      const records = this.inflateBatches ? this.batchRecords(body) : { records: body.subarray(BATCH_HEADER_SIZE) };
      return {
        kind,
        batch: {
          sessionId: body.readUInt32LE(0),
          count: body.readUInt32LE(4),
          sequence: Number(body.readBigUInt64LE(8)),
          helperDropped: Number(body.readBigUInt64LE(16)),
          ...records,
        },
      };
    }
    let json = body;
    let blob: Buffer | undefined;
    if (kind === FrameKind.MessageBlob) {
      if (body.length < 4) this.fail(new ProtocolError('bad-frame', 'blob frame is shorter than its JSON length field'));
      const jsonLength = body.readUInt32LE(0);
      if (jsonLength > body.length - 4 || jsonLength > MAX_JSON_BYTES) {
        this.fail(new ProtocolError('bad-frame', `blob frame declares ${jsonLength} bytes of JSON in a ${body.length}-byte body`));
      }
      json = body.subarray(4, 4 + jsonLength);
      blob = body.subarray(4 + jsonLength);
    } else if (body.length > MAX_JSON_BYTES) {
      this.fail(new ProtocolError('frame-too-large', `message of ${body.length} bytes exceeds ${MAX_JSON_BYTES}`));
    }
    let message: unknown;
    try {
      message = JSON.parse(json.toString('utf8'));
    } catch (err) {
      // Framing is intact, so the stream survives: the caller answers with a parse-error.
      message = new ProtocolError('parse-error', `frame is not valid JSON: ${(err as Error).message}`);
    }
    return blob ? { kind: FrameKind.MessageBlob, message, blob } : { kind: FrameKind.Message, message };
  }

  /** The records of a batch frame's body, inflated when they travelled compressed. */
  private batchRecords(body: Buffer): { records: Buffer; compressedBytes?: number } {
    try {
      return unpackRecords(body.readUInt32LE(24), body.readUInt32LE(28), body.subarray(BATCH_HEADER_SIZE), MAX_FRAME_BYTES);
    } catch (err) {
      this.fail(new ProtocolError('bad-frame', (err as Error).message));
    }
  }

  private fail(err: ProtocolError): never {
    this.failure = err;
    this.chunks = [];
    this.buffered = 0;
    throw err;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0];
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

/** Walks the framed records of a batch; stops with an error on a malformed record instead of over-reading. */
export function* iterateRecords(records: Buffer): Generator<{ ring: number; data: Buffer }> {
  let at = 0;
  while (at < records.length) {
    if (records.length - at < RECORD_HEADER_SIZE) throw new ProtocolError('bad-frame', `record header truncated at offset ${at}`);
    const length = records.readUInt32LE(at);
    const ring = records.readUInt16LE(at + 4);
    const start = at + RECORD_HEADER_SIZE;
    if (length > records.length - start) throw new ProtocolError('bad-frame', `record at offset ${at} declares ${length} bytes, only ${records.length - start} remain`);
    yield { ring, data: records.subarray(start, start + length) };
    at = start + ((length + 7) & ~7);
  }
}

/** Frames records the way the addon does (used by tests and by anything producing batches in JS). */
export function frameRecords(records: ReadonlyArray<{ ring?: number; data: Buffer }>): Buffer {
  const size = records.reduce((n, r) => n + RECORD_HEADER_SIZE + ((r.data.length + 7) & ~7), 0);
  const out = Buffer.alloc(size);
  let at = 0;
  for (const r of records) {
    out.writeUInt32LE(r.data.length, at);
    out.writeUInt16LE(r.ring ?? 0, at + 4);
    r.data.copy(out, at + RECORD_HEADER_SIZE);
    at += RECORD_HEADER_SIZE + ((r.data.length + 7) & ~7);
  }
  return out;
}
