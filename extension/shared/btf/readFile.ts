// The one way BTF files are read (hook catalog, probe and tracer builds): the path may come from a setting,
// so only a regular file is read, and only up to a cap. A device (/dev/zero), a FIFO or /proc/kcore would
// otherwise be read until the process runs out of memory or blocks forever.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** A vmlinux with .BTF is tens of MiB (Debian 6.1: ~60 MiB); raw BTF is ~5 MiB. */
export const MAX_BTF_FILE_BYTES = 512 * 2 ** 20;

export class BtfFileError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Reads a BTF or vmlinux file: regular files only, at most MAX_BTF_FILE_BYTES. */
export function readBtfFile(path: string, maxBytes = MAX_BTF_FILE_BYTES): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer before the type check runs.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BtfFileError(`cannot read BTF from ${path}: ${code ?? String(err)}`, code);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new BtfFileError(`${path} is not a regular file; BTF is read only from files (raw BTF or a vmlinux with .BTF)`, 'ENOTREG');
    if (st.size > maxBytes) throw tooLarge(path, maxBytes);
    // sysfs reports a size for /sys/kernel/btf/vmlinux, but reads go to EOF rather than trusting it.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(8 << 20, maxBytes + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooLarge(path, maxBytes);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

function tooLarge(path: string, maxBytes: number): BtfFileError {
  return new BtfFileError(`${path} is larger than ${maxBytes / 2 ** 20} MiB, too large for a BTF file or vmlinux; extract its BTF with \`bpftool btf dump file ${path} format raw > vmlinux.btf\``, 'EFBIG');
}
