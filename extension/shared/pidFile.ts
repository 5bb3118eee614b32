// Files that say which process holds something (a VM helper channel, a resident tracer's trace slot or
// lock): created exclusively with the holder's pid, and taken over once that process is gone.
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/** Whether a process with this pid exists (EPERM: it does, as another user's). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in a pid file; 0 when it cannot be read. */
export function readPidFile(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return 0;
  }
}

/**
 * Creates `file` holding our pid, replacing one whose holder has died. False when a live process holds it;
 * other errors (a missing folder, no permission) are thrown. The file appears with its pid already in it
 * (written aside, then hard-linked into place), so a racing claimer never reads it empty and takes it as
 * a dead holder's.
 */
export function claimPidFile(file: string): boolean {
  const aside = `${file}.${process.pid}.new`;
  writeFileSync(aside, String(process.pid), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(aside, file);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (pidAlive(readPidFile(file))) return false;
        rmSync(file, { force: true });
      }
    }
    return false;
  } finally {
    rmSync(aside, { force: true });
  }
}
