// Pin root folder names of the resident tracer: whose helper made them, read back for tracer status
// ("loading" while that helper lives) and for the sweep of folders whose helper died.
import * as assert from 'node:assert/strict';
import { folderCreator, reusableKeysOf } from '../../extension/helper/residentTracer';

describe('resident tracer folders', () => {
  const key = '873492d91b8935646b05485f29409a7a';

  it('reads the creating helper from new-<key>-<pid>, for keys with and without syscalls', () => {
    assert.equal(folderCreator(`new-${key}-f1-157`), 157);
    // Keys of traces without syscall events end in -s0; the sweep's old pattern did not match them.
    assert.equal(folderCreator(`new-${key}-f0-s0-4242`), 4242);
  });

  it('reads the releasing helper from release-<key>-<pid>-<ms>, the swept ones included', () => {
    assert.equal(folderCreator(`release-${key}-f1-157-1764745200000`), 157);
    assert.equal(folderCreator(`release-${key}-f1-s0-99-1764745200000`), 99);
    assert.equal(folderCreator('release-swept-f0-311-1764745200000'), 311);
  });

  it('names no helper for a resident tracer or a name of another shape', () => {
    assert.equal(folderCreator(`${key}-f1`), undefined);
    assert.equal(folderCreator('new-157'), undefined);
    assert.equal(folderCreator(`new-${key}-f1-x`), undefined);
    assert.equal(folderCreator('release-1-2'), undefined);
    assert.equal(folderCreator(`new-${key}-f1-0`), undefined);
  });

  it('lists resident tracers and those under release for the hello, not ones being created or swept', () => {
    const other = '0123456789abcdef0123456789abcdef';
    assert.deepEqual(
      reusableKeysOf([`${key}-f1`, `release-${other}-f1-s0-99-1764745200000`, `new-${key}-f0-157`, 'release-swept-f0-311-1764745200000', `release-${key}-f1-12-1764745200000`]).sort(),
      [`${key}-f1`, `${other}-f1-s0`].sort(),
    );
    assert.deepEqual(reusableKeysOf([]), []);
  });
});
