// The kernel addresses the helper gives the tracer (extension/helper/kernelSymbols.ts), read from /proc/kallsyms
// text: the path cache's two locks and the interrupt test's per-CPU preempt count, each pair whole or not at all,
// never a module's symbol, a zeroed (hidden) address or an ambiguous name.
import * as assert from 'node:assert/strict';
import { tracerSymbolGlobals } from '../../extension/helper/kernelSymbols';

describe('kernel symbols for the tracer', () => {
  const lines = (...l: string[]) => l.join('\n') + '\n';

  it('finds rename_lock and mount_lock, exported or static, data or bss', () => {
    const text = lines('ffffffff81000000 T _stext', 'ffffffff82a0b0c0 D rename_lock', 'ffffffff82c41000 b mount_lock', 'ffffffff82c41040 d mount_lock_key');
    assert.deepEqual(tracerSymbolGlobals(text), { tr_rename_lock: '0xffffffff82a0b0c0', tr_mount_lock: '0xffffffff82c41000' });
  });

  it('gives none when one is missing, hidden as zero, only in a module, or named twice', () => {
    assert.deepEqual(tracerSymbolGlobals(lines('ffffffff82a0b0c0 D rename_lock')), {});
    assert.deepEqual(tracerSymbolGlobals(lines('0000000000000000 D rename_lock', '0000000000000000 d mount_lock')), {});
    assert.deepEqual(tracerSymbolGlobals(lines('ffffffff82a0b0c0 D rename_lock', 'ffffffffc0a00000 d mount_lock\t[somemod]')), {});
    assert.deepEqual(tracerSymbolGlobals(lines('ffffffff82a0b0c0 D rename_lock', 'ffffffff82c41000 d mount_lock', 'ffffffff82c42000 d mount_lock')), {});
    assert.deepEqual(tracerSymbolGlobals(lines('ffffffff82a0b0c0 T rename_lock', 'ffffffff82c41000 d mount_lock')), {}, 'a function of that name is not the lock');
    assert.deepEqual(tracerSymbolGlobals(''), {});
  });

  it('finds the per-CPU offsets table and __preempt_count\'s offset (an absolute symbol, as on x86_64), apart from the locks', () => {
    const percpu = ['00000000000199e8 A this_cpu_off', '000000000001fb40 A __preempt_count', 'ffffffff8241cb60 D __per_cpu_offset'];
    assert.deepEqual(tracerSymbolGlobals(lines(...percpu)), { tr_percpu_offsets: '0xffffffff8241cb60', tr_preempt_count: '0x000000000001fb40' });
    assert.deepEqual(tracerSymbolGlobals(lines(...percpu, 'ffffffff82a0b0c0 D rename_lock', 'ffffffff82c41000 b mount_lock')), {
      tr_rename_lock: '0xffffffff82a0b0c0',
      tr_mount_lock: '0xffffffff82c41000',
      tr_percpu_offsets: '0xffffffff8241cb60',
      tr_preempt_count: '0x000000000001fb40',
    });
    // Hidden (all zero) or half there: the pair stays out, the locks do not depend on it.
    assert.deepEqual(tracerSymbolGlobals(lines('0000000000000000 A __preempt_count', '0000000000000000 D __per_cpu_offset')), {});
    assert.deepEqual(tracerSymbolGlobals(lines('000000000001fb40 A __preempt_count', 'ffffffff82a0b0c0 D rename_lock', 'ffffffff82c41000 b mount_lock')), {
      tr_rename_lock: '0xffffffff82a0b0c0',
      tr_mount_lock: '0xffffffff82c41000',
    });
  });

  it('takes pcpu_hot where the kernel keeps the count in it (6.2 to 6.14), and __preempt_count first', () => {
    const hot = ['0000000000035200 A pcpu_hot', 'ffffffff8241cb60 D __per_cpu_offset'];
    assert.deepEqual(tracerSymbolGlobals(lines(...hot)), { tr_percpu_offsets: '0xffffffff8241cb60', tr_pcpu_hot: '0x0000000000035200' });
    assert.deepEqual(tracerSymbolGlobals(lines(...hot, '000000000001fb40 A __preempt_count')), { tr_percpu_offsets: '0xffffffff8241cb60', tr_preempt_count: '0x000000000001fb40' });
    assert.deepEqual(tracerSymbolGlobals(lines('0000000000035200 A pcpu_hot')), {});
  });
});
