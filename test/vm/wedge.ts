// A guest that stopped answering, for the VM tier's tests and suite hooks. Under TCG with a thread per vCPU
// the guest has now and then been left with its CPUs stuck for minutes (soft lockups in sshd) right after a
// full tracer detach patched ~230 ftrace call sites; a kernel on real CPUs does not do this. The tier then
// says where it happened, prints the end of the guest's console and boots the VM again, so one wedged guest
// fails at most the step that met it, not every suite after it.
import type { Context } from 'mocha';
import { vmTarget } from '../../extension/core/targets/vm';
import { BuiltinVm } from '../../extension/core/vm/vm';
import { readState, unreachableVmReason } from '../../extension/core/vm/machine';

/** Why the tier's VM does not answer a command within 30 s, or undefined when it answers or is not running
 *  (a test that stopped it on purpose brings it up itself). */
export async function vmUnanswered(): Promise<string | undefined> {
  const vm = BuiltinVm.of();
  if (!readState(vm.paths)) return undefined;
  const answered = await vmTarget(vm.paths)
    .exec('true', [], { timeoutMs: 30_000 })
    .then((r) => (r.exitCode === 0 ? undefined : `\`true\` exited ${r.exitCode}: ${r.stderr.trim()}`))
    .catch((e: Error) => e.message);
  if (answered === undefined) return undefined;
  return answered.includes('Last lines of the VM console') ? answered : `${answered}\n${unreachableVmReason(vm.paths)}`;
}

/** Stops the tier's VM and boots it again; the tests and hooks that follow reach it on its new port. */
export async function rebootVm(): Promise<void> {
  const vm = BuiltinVm.of();
  await vm.down();
  process.env.BPF_LSM_VM_PORT = String((await vm.up()).port);
}

/** Boots the unanswering VM again, saying where it stopped answering and why. */
export async function bootAgain(where: string, why: string): Promise<void> {
  console.error(`vm: ${where} the VM does not answer (${why})\nvm: booting it again for the tests that follow`);
  await rebootVm();
}

/** A suite's `before` hook that runs once more on a freshly booted VM when it failed while the guest stopped
 *  answering (mocha retries tests, never hooks). A failure with the VM answering is the hook's own. */
export function vmBefore(fn: (this: Context) => Promise<void>): void {
  before(async function () {
    try {
      await fn.call(this);
    } catch (error) {
      if (!process.env.BPF_LSM_VM_PORT) throw error;
      const why = await vmUnanswered();
      if (why === undefined) throw error;
      const title = this.test?.parent?.fullTitle() ?? 'a suite';
      await bootAgain(`in the "before all" hook of "${title}"`, why);
      console.error(`vm: running the "before all" hook of "${title}" again on the fresh VM: its first attempt failed (${(error as Error).message.split('\n')[0]})`);
      await fn.call(this);
    }
  });
}
