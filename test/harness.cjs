// Runs mocha over a list of compiled test files and refuses to pass empty.
// Shared by the plain-node tiers (test/run.mjs) and the in-VS-Code tier (test/e2e/index.ts),
// so every tier closes on the same line: "<tier>: N passed, N failed[, N skipped]".
'use strict';
const Mocha = require('mocha');

/**
 * @param {{ tier: string, files: string[], grep?: string, timeout?: number, log?: (line: string) => void }} opts
 * @returns {Promise<{ passed: number, failed: number, skipped: number }>} rejects when any test failed or none ran
 */
async function runMocha(opts) {
  const log = opts.log ?? ((line) => console.log(line));
  const mocha = new Mocha({ ui: 'bdd', timeout: opts.timeout ?? 20000, color: false, reporter: 'spec' });
  if (opts.grep) mocha.grep(opts.grep);
  for (const f of opts.files) mocha.addFile(f);
  await mocha.loadFilesAsync();
  const counts = { passed: 0, failed: 0, skipped: 0 };
  await new Promise((resolve) => {
    const runner = mocha.run(() => resolve(undefined));
    runner.on('pass', () => counts.passed++);
    runner.on('fail', () => counts.failed++);
    runner.on('pending', () => counts.skipped++);
    // A tier that retries (the VM tier, after a guest stopped answering) decides with the first error.
    runner.on('retry', (test, err) => {
      (test.retriedTest() ?? test).firstAttemptError = err;
    });
  });
  log(`${opts.tier}: ${counts.passed} passed, ${counts.failed} failed` + (counts.skipped ? `, ${counts.skipped} skipped` : ''));
  if (counts.passed + counts.failed === 0) {
    throw new Error(`${opts.tier}: ran zero tests (files: ${opts.files.length}${opts.grep ? `, grep: ${opts.grep}` : ''}); a tier that runs nothing fails`);
  }
  if (counts.failed > 0) throw new Error(`${opts.tier}: ${counts.failed} test(s) failed`);
  return counts;
}

module.exports = { runMocha };
