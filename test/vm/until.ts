// Waiting on the kernel in VM tests: detach and teardown complete asynchronously, so a test polls a probe
// with a growing delay until it answers, and fails with what it waited for once the bound is reached.
import type { Target } from '../../extension/core/target';

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** A probe for until: true once process `pid` is gone from the target (a zombie still counts: /proc keeps it). */
export async function processGone(target: Target, pid: number): Promise<true | undefined> {
  const r = await target.exec('sh', ['-c', 'test -d /proc/$1 && echo alive || echo gone', 'check', String(pid)]);
  return r.stdout.trim() === 'gone' ? true : undefined;
}
