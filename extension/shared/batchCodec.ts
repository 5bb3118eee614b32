// How event batches of the helper protocol (helperFrames.ts) may travel compressed: the codec byte of
// the batch header, and the compression itself. On a 300 KB batch of the tracer's records in the 6.1 VM
// (TCG), brotli at quality 0 gave 10.5x at 36 MB/s; deflate at levels 1-2 gave 13x at 12-17 MB/s.
import { brotliCompressSync, brotliDecompressSync, constants as zlib } from 'node:zlib';

/** Batch header byte 24: how the records follow it. Bytes 25-27 are zero; 28-31 hold the records' own size. */
export const enum BatchCodec {
  None = 0,
  Brotli = 1,
}

/** Smaller batches go uncompressed: the first events of a trace are few and should not wait for a codec. */
export const MIN_COMPRESSED_BATCH = 4096;

/** The records compressed, or undefined when they are too few to be worth it or do not shrink. */
export function compressRecords(records: Buffer): Buffer | undefined {
  if (records.length < MIN_COMPRESSED_BATCH) return undefined;
  const packed = brotliCompressSync(records, { params: { [zlib.BROTLI_PARAM_QUALITY]: 0, [zlib.BROTLI_PARAM_SIZE_HINT]: records.length } });
  return packed.length < records.length ? packed : undefined;
}

/**
 * The records of a batch from its header's codec word (bytes 24-27) and size (28-31) and what follows the
 * header; throws saying what is wrong with them.
 */
export function unpackRecords(codecWord: number, size: number, wire: Buffer, limit: number): { records: Buffer; compressedBytes?: number } {
  const codec = codecWord & 0xff;
  if (codecWord >>> 8 !== 0) throw new Error('reserved event batch header bytes are not zero');
  if (codec === BatchCodec.None) {
    if (size !== 0) throw new Error('an uncompressed event batch declares a size');
    return { records: wire };
  }
  if (codec !== BatchCodec.Brotli) throw new Error(`unknown event batch codec ${codec}`);
  if (size > limit) throw new Error(`compressed event batch declares ${size} bytes, over ${limit}`);
  let records: Buffer;
  try {
    records = brotliDecompressSync(wire, { maxOutputLength: Math.max(size, 1) });
  } catch (err) {
    throw new Error(`compressed event batch does not inflate to its ${size} bytes: ${(err as Error).message}`);
  }
  if (records.length !== size) throw new Error(`compressed event batch inflates to ${records.length} bytes, not the ${size} it declares`);
  return { records, compressedBytes: wire.length };
}
