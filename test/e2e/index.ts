// Runs inside the VS Code extension host (extensionTestsPath): loads every compiled e2e suite next to this
// file and runs them with the shared harness, which fails when no test ran. The runner outside VS Code
// (test/e2e/runner.mjs) reads the result from the workbench's exit code and mocha's output.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runMocha } = require('../harness.cjs') as typeof import('../harness.cjs');

export async function run(): Promise<void> {
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => join(__dirname, f));
  await runMocha({
    tier: 'e2e',
    files,
    grep: process.env.BPF_LSM_E2E_GREP || undefined,
    timeout: 60_000,
  });
}
