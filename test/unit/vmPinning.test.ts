// Host cores for the built-in VM's vCPU threads (extension/core/vm/pinning.ts): the policy and the parsers of
// what it reads (the kernel's CPU lists, qemu's `info cpus`).
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowedHostCpus, helperCore, keepNearHelper, keepToHelperCore, parseCpuList, parseVcpuThreads, vcpuCores } from '../../extension/core/vm/pinning';

describe('VM vCPU pinning', () => {
  it('reads kernel CPU lists, ranges included, and nothing from text of another shape', () => {
    assert.deepEqual(parseCpuList('0-1'), [0, 1]);
    assert.deepEqual(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
    assert.deepEqual(parseCpuList('5'), [5]);
    assert.deepEqual(parseCpuList('3-1'), []);
    assert.deepEqual(parseCpuList('0,x'), []);
    assert.deepEqual(parseCpuList(''), []);
  });

  it("reads this process's allowed CPUs from a status file", () => {
    const dir = mkdtempSync(join(tmpdir(), 'pin-'));
    writeFileSync(join(dir, 'status'), 'Name:\tnode\nCpus_allowed:\t3\nCpus_allowed_list:\t2-3\nMems_allowed_list:\t0\n');
    assert.deepEqual(allowedHostCpus(join(dir, 'status')), [2, 3]);
    assert.deepEqual(allowedHostCpus(join(dir, 'missing')), []);
    assert.ok(allowedHostCpus().length >= 1, 'this machine has at least one CPU');
  });

  it("maps vCPUs to host threads from qemu's info cpus, the current-CPU star and CRLF included", () => {
    const info = '* CPU #0: thread_id=7077\r\n  CPU #1: thread_id=7078\r\n';
    assert.deepEqual([...parseVcpuThreads(info)], [
      [0, 7077],
      [1, 7078],
    ]);
    assert.equal(parseVcpuThreads('unknown command').size, 0);
  });

  it('pins only when the host has no core to spare beyond one per vCPU, unless told', () => {
    assert.deepEqual(vcpuCores([0, 1], 2, undefined), [0, 1]);
    assert.deepEqual(vcpuCores([2, 3], 2, undefined), [2, 3], 'the cores this process may use, not 0..n-1');
    assert.deepEqual(vcpuCores([0], 2, undefined), [0, 0], 'one core: both there');
    assert.equal(vcpuCores([0, 1, 2, 3], 2, undefined), undefined, 'spare cores: left to the scheduler');
    assert.deepEqual(vcpuCores([0, 1, 2, 3], 2, '1'), [0, 1]);
    assert.equal(vcpuCores([0, 1], 2, '0'), undefined);
    assert.equal(vcpuCores([], 2, '1'), undefined);
  });

  it("keeps the CLI to the last vCPU's core only when the vCPUs are pinned and it may run there", () => {
    assert.equal(helperCore([0, 1], [0, 1], undefined), 1);
    assert.equal(helperCore([2, 3], [0, 1, 2, 3], '1'), 3);
    assert.equal(helperCore(undefined, [0, 1], undefined), undefined, 'vCPUs left to the scheduler');
    assert.equal(helperCore([0, 1], [0], undefined), undefined, 'not a core this process may use');
    assert.equal(helperCore([0, 1], [0, 1], '0'), undefined, 'BPF_LSM_VM_PIN=0');
    assert.equal(helperCore([], [0, 1], undefined), undefined);
  });

  it('pins every thread of a process to that core with taskset', async function () {
    this.timeout(30_000);
    // Another process (a node, which has threads), so that this test process keeps its own affinity.
    const allowed = allowedHostCpus();
    const core = allowed[allowed.length - 1];
    const child = spawn(process.execPath, ['-e', 'console.log("up"); setTimeout(() => undefined, 20000)'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((resolve) => child.stdout.once('data', resolve));
      assert.equal(await keepToHelperCore([allowed[0], core], child.pid), core);
      const tasks = readdirSync(`/proc/${child.pid}/task`);
      assert.ok(tasks.length > 1, 'node runs more than one thread');
      for (const tid of tasks) assert.deepEqual(allowedHostCpus(`/proc/${child.pid}/task/${tid}/status`), [core], `thread ${tid}`);
      assert.equal(await keepToHelperCore(undefined, child.pid), undefined);
    } finally {
      child.kill();
    }
  });

  it('keeps this process to that core while any trace holds it, then gives it its cores back', async function () {
    this.timeout(30_000);
    const before = allowedHostCpus();
    const core = before[before.length - 1];
    const threads = () => readdirSync('/proc/self/task').map((tid) => allowedHostCpus(`/proc/self/task/${tid}/status`));
    const [first, second] = await Promise.all([keepNearHelper([before[0], core]), keepNearHelper([before[0], core])]);
    try {
      assert.ok(first && second);
      for (const cpus of threads()) assert.deepEqual(cpus, [core]);
      await first();
      await first();
      for (const cpus of threads()) assert.deepEqual(cpus, [core], 'still held by the second trace');
      await second();
      for (const cpus of threads()) assert.deepEqual(cpus, before);
      assert.equal(await keepNearHelper(undefined), undefined, 'vCPUs not pinned: nothing to do');
    } finally {
      await first?.();
      await second?.();
    }
  });
});
