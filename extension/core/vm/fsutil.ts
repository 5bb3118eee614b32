// File writes for the VM cache. Every asset is written under a temporary name and renamed into place, so an
// interrupted preparation never leaves a half-written file that a later run would trust.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../shared/atomicWrite';

export { tempSibling } from '../../shared/atomicWrite';

export function atomicWrite(path: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, data, mode);
}
