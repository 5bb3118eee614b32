// A root hook of the VM tier: after every test, the shared VM must still answer. A guest that stopped
// answering (a kernel that locked up, an sshd that no longer accepts) would otherwise fail every suite after
// the test that left it so, each with the same ssh timeout. Here the tier says which test left the VM
// unanswering, prints what the guest's console ends with, and boots it again for the tests that follow; the
// test itself is not retried and keeps its own result.
import { vmTarget } from '../../extension/core/targets/vm';
import { BuiltinVm } from '../../extension/core/vm/vm';
import { readState, unreachableVmReason } from '../../extension/core/vm/machine';

afterEach(async function () {
  if (!process.env.BPF_LSM_VM_PORT) return;
  const vm = BuiltinVm.of();
  // A test that stopped the VM on purpose brings it up itself when it needs it again.
  if (!readState(vm.paths)) return;
  this.timeout(180_000);
  const answered = await vmTarget(vm.paths)
    .exec('true', [], { timeoutMs: 30_000 })
    .then((r) => (r.exitCode === 0 ? undefined : `\`true\` exited ${r.exitCode}: ${r.stderr.trim()}`))
    .catch((e: Error) => e.message);
  if (answered === undefined) return;
  const why = answered.includes('Last lines of the VM console') ? '' : `\n${unreachableVmReason(vm.paths)}`;
  console.error(`vm: after "${this.currentTest?.fullTitle()}" the VM does not answer (${answered})${why}\nvm: booting it again for the tests that follow`);
  await vm.down();
  const up = await vm.up();
  process.env.BPF_LSM_VM_PORT = String(up.port);
});
