// The resident tracer keeper's schedule (extension/helper/tracerKeeper.ts): what it detaches at a wakeup and
// when it looks again, from which programs are attached and how long no trace has started. The detaches
// themselves, and a trace attaching the programs again, are checked against the 6.1 VM (test/vm/trace.test.ts).
import * as assert from 'node:assert/strict';
import { HOT_HOOKS_IDLE_MS, keeperStep, SYSCALL_IDLE_MS } from '../../extension/helper/tracerKeeper';
import { HOT_HOOK_PROGRAMS, IDLE_DETACHED_PROGRAMS, SYSCALL_PROGRAMS } from '../../extension/shared/tracer/control';

const TEN_MINUTES = 10 * 60_000;
const all = { syscalls: true, hot: true, hooks: true, hooksIdleMs: TEN_MINUTES, untilLook: 0, waitMs: 5000 };

describe('tracer keeper schedule', () => {
  it('detaches the syscall programs half a second after the last trace, and comes back for the hot hooks', () => {
    assert.deepEqual(keeperStep({ ...all, idleFor: 100 }), { idleMs: SYSCALL_IDLE_MS, waitMs: SYSCALL_IDLE_MS - 100 });
    const step = keeperStep({ ...all, idleFor: SYSCALL_IDLE_MS });
    assert.equal(step.detach, 'syscalls');
    assert.ok(step.waitMs <= HOT_HOOKS_IDLE_MS);
  });

  it('waits for its next look while a trace keeps the syscall programs busy', () => {
    assert.deepEqual(keeperStep({ ...all, idleFor: 60_000, untilLook: 2000 }), { idleMs: SYSCALL_IDLE_MS, waitMs: 2000 });
  });

  it('detaches the hot hooks\' programs 10 s after the last trace, waking for it', () => {
    const early = keeperStep({ ...all, syscalls: false, idleFor: 4000 });
    assert.equal(early.detach, undefined);
    assert.equal(early.waitMs, 5000, 'its usual sleep when the hot detach is further away');
    const soon = keeperStep({ ...all, syscalls: false, idleFor: HOT_HOOKS_IDLE_MS - 1000 });
    assert.equal(soon.detach, undefined);
    assert.ok(soon.waitMs > 1000 && soon.waitMs < 1500, `${soon.waitMs}`);
    assert.deepEqual(keeperStep({ ...all, syscalls: false, idleFor: HOT_HOOKS_IDLE_MS }), { detach: 'hot', idleMs: HOT_HOOKS_IDLE_MS, waitMs: 5000 });
  });

  it('detaches the other hook programs after hooksIdleMs, and never when it is 0', () => {
    const rest = { ...all, syscalls: false, hot: false };
    assert.equal(keeperStep({ ...rest, idleFor: TEN_MINUTES - 1 }).detach, undefined);
    assert.deepEqual(keeperStep({ ...rest, idleFor: TEN_MINUTES }), { detach: 'hooks', idleMs: TEN_MINUTES, waitMs: 5000 });
    assert.equal(keeperStep({ ...rest, hooksIdleMs: 0, idleFor: 7 * 24 * 3600_000 }).detach, undefined);
    assert.equal(keeperStep({ ...rest, hooks: false, idleFor: TEN_MINUTES }).detach, undefined, 'nothing left attached');
  });

  it('takes the hot hooks no later than a hooksIdleMs shorter than their own delay', () => {
    assert.deepEqual(keeperStep({ ...all, syscalls: false, hooksIdleMs: 3000, idleFor: 3000 }), { detach: 'hot', idleMs: 3000, waitMs: 5000 });
    // With hooksIdleMs 0 (never), the hot hooks still go after their own delay.
    assert.equal(keeperStep({ ...all, syscalls: false, hooksIdleMs: 0, idleFor: HOT_HOOKS_IDLE_MS }).detach, 'hot');
  });

  it('keeps the syscall and hot hook program lists distinct and named as the generator names hook programs', () => {
    assert.deepEqual(IDLE_DETACHED_PROGRAMS, [...SYSCALL_PROGRAMS, ...HOT_HOOK_PROGRAMS]);
    assert.equal(new Set(IDLE_DETACHED_PROGRAMS).size, IDLE_DETACHED_PROGRAMS.length);
    for (const p of HOT_HOOK_PROGRAMS) assert.match(p, /^tr_[a-z0-9_]+$/);
    assert.ok(HOT_HOOK_PROGRAMS.includes('tr_inode_permission') && HOT_HOOK_PROGRAMS.includes('tr_file_open'));
  });
});
