// The object check process (extension/helper/objectCheck.ts): a check that never finishes fails the one
// request after the timeout, and the next check gets a fresh child; bytes that passed are not checked twice.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECK_OBJECTS_FLAG, ObjectChecker } from '../../extension/helper/objectCheck';
import { withSymbolValue } from '../fixtures/malformed/elf';
import { helperJs } from '../fixtures/helperProcess';

const probeObject = () => readFileSync(join(__dirname, '..', '..', '..', 'dist', 'bpf', 'helper_test.bpf.o'));

describe('object check process', function () {
  this.timeout(20_000);

  it('fails a check that hangs after its timeout and starts a fresh child for the next one', async () => {
    // Stands in for libbpf looping on a crafted object: reads the object and never answers.
    const stuck = new ObjectChecker({ program: process.execPath, args: ['-e', 'process.stdin.resume()'] }, 500);
    try {
      const t = Date.now();
      await assert.rejects(stuck.check(Buffer.from('object')), /did not finish opening it within 0.5 s/);
      const ms = Date.now() - t;
      assert.ok(ms >= 450 && ms < 5000, `${ms} ms`);
      await assert.rejects(stuck.check(Buffer.from('object')), /did not finish/, 'the next check runs (in a new child) and times out too');
      assert.equal(stuck.remembers(Buffer.from('object')), false, 'a check that failed is not remembered');
      console.log(`      check: a hung check failed after ${ms} ms`);
    } finally {
      stuck.close();
    }
  });

  it('passes a good object and an object with an out-of-range global through the real check child', async () => {
    const checker = new ObjectChecker({ program: process.execPath, args: [helperJs, CHECK_OBJECTS_FLAG] }, 15_000);
    try {
      assert.equal(checker.remembers(probeObject()), false);
      await checker.check(probeObject());
      assert.equal(checker.remembers(probeObject()), true, 'bytes that passed are remembered');
      const other = withSymbolValue(probeObject(), 'cookie', 0xfffffff8n);
      assert.equal(checker.remembers(other), false, 'other bytes are checked');
      // The child reads and writes every global it is offered: an out-of-range one is never offered.
      await checker.check(withSymbolValue(probeObject(), 'cookie', 0xfffffff8n));
      await checker.check(probeObject());
    } finally {
      checker.close();
    }
  });
});
