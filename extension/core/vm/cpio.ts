// A writer for the "newc" cpio format, the only archive format the kernel unpacks as an initramfs.
// Written here rather than shelling out to cpio(1) so that every file's owner is root and every mode is
// exactly what the image plan says, whatever user prepares the image.
import { closeSync, openSync, readSync, writeSync, fstatSync } from 'node:fs';
import { posix } from 'node:path';

export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly data: Buffer }
  /** A file copied from the host at write time, so a 100 MB node binary is streamed, never held twice. */
  | { readonly kind: 'hostFile'; readonly path: string; readonly mode: number; readonly source: string }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | { readonly kind: 'chardev'; readonly path: string; readonly mode: number; readonly major: number; readonly minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const TRAILER = 'TRAILER!!!';

/** Archive paths are relative ("bin/sh"), never absolute or escaping, whatever the caller passed. */
export function archivePath(path: string): string {
  const normal = posix.normalize(path.replace(/^\/+/, ''));
  if (normal === '.' || normal === '' || normal.startsWith('..')) throw new Error(`invalid path in initramfs: "${path}"`);
  return normal.replace(/\/+$/, '');
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

export interface HeaderFields {
  ino: number;
  mode: number;
  nlink: number;
  mtime: number;
  size: number;
  rdevMajor: number;
  rdevMinor: number;
  name: string;
}

/** One newc header plus its name, padded so that the data that follows starts on a 4-byte boundary. */
export function header(f: HeaderFields): Buffer {
  const name = Buffer.from(f.name + '\0', 'utf8');
  const fields = [f.ino, f.mode, 0, 0, f.nlink, f.mtime, f.size, 0, 0, f.rdevMajor, f.rdevMinor, name.length, 0];
  const head = Buffer.from('070701' + fields.map(hex8).join(''), 'ascii');
  const total = head.length + name.length;
  return Buffer.concat([head, name, Buffer.alloc(pad4(total))]);
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/**
 * Adds the parent directories an entry needs (in order, each once) and drops later duplicates of a path,
 * so a plan can list files without spelling out every directory above them.
 */
export function withParents(entries: readonly CpioEntry[]): CpioEntry[] {
  const seen = new Set<string>();
  const out: CpioEntry[] = [];
  for (const entry of entries) {
    const path = archivePath(entry.path);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!seen.has(dir)) {
        seen.add(dir);
        out.push({ kind: 'dir', path: dir });
      }
    }
    if (seen.has(path)) continue;
    seen.add(path);
    out.push({ ...entry, path });
  }
  return out;
}

/** Writes the entries (parents added) to an open file descriptor. Returns the number of bytes written. */
export function writeCpio(fd: number, entries: readonly CpioEntry[], mtime = 0): number {
  let written = 0;
  let ino = 1;
  const put = (buf: Buffer) => {
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    written += buf.length;
  };
  for (const entry of withParents(entries)) {
    const base = { ino: ino++, nlink: 1, mtime, rdevMajor: 0, rdevMinor: 0, name: entry.path };
    switch (entry.kind) {
      case 'dir':
        put(header({ ...base, nlink: 2, mode: S_IFDIR | (entry.mode ?? 0o755), size: 0 }));
        break;
      case 'symlink': {
        const data = Buffer.from(entry.target, 'utf8');
        put(header({ ...base, mode: S_IFLNK | 0o777, size: data.length }));
        put(Buffer.concat([data, Buffer.alloc(pad4(data.length))]));
        break;
      }
      case 'chardev':
        put(header({ ...base, mode: S_IFCHR | entry.mode, size: 0, rdevMajor: entry.major, rdevMinor: entry.minor }));
        break;
      case 'file':
        put(header({ ...base, mode: S_IFREG | entry.mode, size: entry.data.length }));
        put(Buffer.concat([entry.data, Buffer.alloc(pad4(entry.data.length))]));
        break;
      case 'hostFile': {
        const src = openSync(entry.source, 'r');
        try {
          const size = fstatSync(src).size;
          put(header({ ...base, mode: S_IFREG | entry.mode, size }));
          const chunk = Buffer.allocUnsafe(1 << 20);
          let left = size;
          while (left > 0) {
            const n = readSync(src, chunk, 0, Math.min(chunk.length, left), null);
            if (n === 0) throw new Error(`${entry.source} shrank while it was being copied into the VM image`);
            put(chunk.subarray(0, n));
            left -= n;
          }
          put(Buffer.alloc(pad4(size)));
        } finally {
          closeSync(src);
        }
        break;
      }
    }
  }
  put(header({ ino: 0, mode: 0, nlink: 1, mtime: 0, size: 0, rdevMajor: 0, rdevMinor: 0, name: TRAILER }));
  return written;
}

export interface ParsedEntry {
  name: string;
  mode: number;
  size: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Buffer;
}

/** Reads a newc archive back (the trailer ends it). Used by tests and by `vm status` to list an image. */
export function readCpio(buf: Buffer): ParsedEntry[] {
  const out: ParsedEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + 110 > buf.length) throw new Error('cpio archive ends without a trailer');
    const magic = buf.toString('ascii', off, off + 6);
    if (magic !== '070701') throw new Error(`bad cpio magic "${magic}" at offset ${off}`);
    const field = (i: number) => parseInt(buf.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const rdevMajor = field(9);
    const rdevMinor = field(10);
    const name = buf.toString('utf8', off + 110, off + 110 + nameSize - 1);
    off += 110 + nameSize;
    off += pad4(110 + nameSize);
    if (name === TRAILER) return out;
    const data = buf.subarray(off, off + size);
    off += size + pad4(size);
    out.push({ name, mode, size, rdevMajor, rdevMinor, data });
  }
}
