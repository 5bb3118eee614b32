// A root hook of the VM tier: after every test, the shared VM must still answer. A guest that stopped
// answering (a kernel that locked up, an sshd that no longer accepts) would otherwise fail every suite after
// the test that left it so, each with the same ssh timeout. Here the tier says which test left the VM
// unanswering, prints what the guest's console ends with, and boots it again for the tests that follow.
//
// A test whose attempt failed while the guest stopped answering runs once more, on the fresh VM, and says so.
// Such a guest has been seen wedged by its own code patching under TCG (soft lockups right after a full
// tracer detach), which a kernel on real CPUs does not do; the test's second attempt decides its result. A
// test that failed with the VM still answering is not run again: its second attempt fails at once with the
// first attempt's error. (Mocha decides on a retry before the afterEach hooks run, so every VM test is given
// one retry here and the retry is cancelled when the guest was fine.)
import type { Test } from 'mocha';
import { vmUnanswered, bootAgain } from './wedge';

/** The harness keeps a failed attempt's error on the test (mocha's `retry` event). */
type Attempt = Test & { firstAttemptError?: Error };
/** Tests whose failed attempt left the guest unanswering: they run again. */
const wedged = new WeakSet<Test>();
const ranAgain: string[] = [];

function firstAttempt(test: Test): Attempt {
  return ((test as unknown as { retriedTest(): Test | undefined }).retriedTest() ?? test) as Attempt;
}

function attemptNumber(test: Test): number {
  return (test as unknown as { currentRetry(): number }).currentRetry();
}

beforeEach(function () {
  if (!process.env.BPF_LSM_VM_PORT) return;
  const test = this.currentTest!;
  if (attemptNumber(test) === 0) {
    test.retries(1);
    return;
  }
  const first = firstAttempt(test);
  const error = first.firstAttemptError ?? new Error('the first attempt failed');
  if (wedged.has(first)) {
    ranAgain.push(test.fullTitle());
    console.error(`vm: running "${test.fullTitle()}" again on the fresh VM: its first attempt failed (${error.message.split('\n')[0]}) while the guest stopped answering`);
    return;
  }
  test.fn = () => {
    throw error;
  };
});

afterEach(async function () {
  if (!process.env.BPF_LSM_VM_PORT) return;
  const test = this.currentTest!;
  this.timeout(180_000);
  const why = await vmUnanswered();
  if (why === undefined) return;
  if (test.state !== 'passed' && attemptNumber(test) === 0) wedged.add(firstAttempt(test));
  await bootAgain(`after "${test.fullTitle()}"`, why);
});

after(function () {
  if (ranAgain.length) console.error(`vm: ${ranAgain.length} test(s) ran a second time after the guest stopped answering: ${ranAgain.map((t) => `"${t}"`).join(', ')}`);
});
