// The test runner itself: a tier that runs zero tests must fail, or an empty suite would pass as green.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');

describe('test runner', () => {
  it('exits non-zero when the tier ran zero tests', () => {
    const run = spawnSync(process.execPath, [join(root, 'test', 'run.mjs'), 'unit', '--grep', 'no test has this name 7f3a'], {
      env: { ...process.env, BPF_LSM_SKIP_BUILD: '1' },
      encoding: 'utf8',
    });
    assert.notEqual(run.status, 0);
    assert.match(run.stdout, /unit: 0 passed, 0 failed/);
    assert.match(run.stderr, /ran zero tests/);
  });

  it('exits zero and reports the count when tests ran', () => {
    const run = spawnSync(process.execPath, [join(root, 'test', 'run.mjs'), 'unit', '--grep', 'manifest'], {
      env: { ...process.env, BPF_LSM_SKIP_BUILD: '1' },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /unit: [1-9]\d* passed, 0 failed/);
  });
});
