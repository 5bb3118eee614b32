// Running the built CLI from VM tests (dist/cli.js with the tier's environment, so it reaches the tier's VM).
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

const TIMEOUT_MS = 180_000;

/** A run the timeout killed says so at the end of its stderr (its exit code is then 1). */
export function bpfLsm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: process.env, timeout: TIMEOUT_MS }, (err, stdout, stderr) => {
      const e = err as { code?: unknown; killed?: boolean; signal?: string } | null;
      const killed = e?.killed ? `\n[killed by ${e.signal ?? 'a signal'}: still running after the test's ${TIMEOUT_MS / 1000} s limit]` : '';
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr: stderr + killed });
    });
  });
}
