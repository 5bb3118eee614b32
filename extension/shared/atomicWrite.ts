// Files written under a temporary name next to them and renamed into place, so no reader (another process,
// a later run) ever sees one half-written.
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** A name next to `path` that no other process will pick, on the same filesystem so rename is atomic. */
export function tempSibling(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Writes `data` to `path` whole or not at all: `mode` for the file (else node's default less the umask);
 * the folder must exist.
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode?: number): void {
  const tmp = tempSibling(path);
  try {
    writeFileSync(tmp, data, mode === undefined ? undefined : { mode });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
