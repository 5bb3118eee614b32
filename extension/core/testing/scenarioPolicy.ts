// A scenario file's enforcement policy ("policy": a bpf-lsm.policy.json with an exec deny list and/or
// profiles), so generated profiles can be tested like probes: applied on the kernel's VM for the file, again
// after each scenario's setup (a subject the setup copies is a new inode each time; after the first apply
// only the pinned rule maps are rewritten), and cleared when the file is done. A policy already in force on
// the VM is not replaced: the file's scenarios fail and say so.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { HelperClient } from '../helperClient';
import type { Target } from '../target';
import { findDist } from '../targets/deploy';
import { applyPolicy, clearPolicy, execBlockObject, LINK_PIN, pathsExist } from '../policy/policy';
import { parsePolicyDocument, type PolicyDocument } from '../policy/profile';
import { applyProfiles, clearProfiles, PROFILE_LINK_PINS, profileGuardObject } from '../policy/profileApply';
import type { ScenarioFile } from './scenarioFile';

export class ScenarioPolicy {
  private applied = false;

  private constructor(
    private readonly source: string,
    private readonly doc: PolicyDocument,
  ) {}

  /** The file's policy, read and checked on this machine; undefined when the file names none. Throws with the policy file's own error. */
  static read(file: ScenarioFile): ScenarioPolicy | undefined {
    if (!file.policy) return undefined;
    const source = resolve(dirname(file.path), file.policy);
    let text: string;
    try {
      text = readFileSync(source, 'utf8');
    } catch (err) {
      throw new Error(`the policy file ${file.policy} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return new ScenarioPolicy(file.policy, parsePolicyDocument(text, file.policy));
  }

  /** Why the policy cannot be applied on this target now (one is in force already), or undefined. */
  async conflict(target: Target): Promise<string | undefined> {
    // The pins policy status and profilesPinned look at, in one round trip.
    const [exec, profiles] = await pathsExist(target, [LINK_PIN, PROFILE_LINK_PINS[1]]);
    if (!exec && !profiles) return undefined;
    return `a policy is already in force on ${target.id} (${[exec ? 'exec deny list' : '', profiles ? 'profiles' : ''].filter(Boolean).join(' and ')}); the scenarios would replace it: run "bpf-lsm policy clear --target ${target.id}" first`;
  }

  /** Applies (or rewrites in place) the deny list and the profiles; a message when a subject is missing. */
  async apply(target: Target, client: HelperClient): Promise<string | undefined> {
    const dist = findDist();
    this.applied = true; // from here on, clear() removes whatever part got in place
    await applyPolicy(target, client, this.doc.exec, execBlockObject(dist));
    if (!this.doc.profiles.length) return undefined;
    const r = await applyProfiles(target, client, this.doc.profiles, profileGuardObject(dist));
    if (!r.missingSubjects.length) return undefined;
    return `${this.source}: subject ${r.missingSubjects.join(', ')} does not exist on ${target.id} when the policy is applied (after setup): create it in "setup" or fix the path`;
  }

  /** Removes everything apply left (pins, links, rule maps). */
  async clear(target: Target, client: HelperClient): Promise<void> {
    if (!this.applied) return;
    this.applied = false;
    await clearPolicy(target, client);
    await clearProfiles(target, client);
  }
}
