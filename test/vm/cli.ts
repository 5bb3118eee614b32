// Running the built CLI from VM tests (dist/cli.js with the tier's environment, so it reaches the tier's VM).
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

export function bpfLsm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: process.env, timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
