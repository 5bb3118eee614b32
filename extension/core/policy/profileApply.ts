// Applying profiles on a target through bpf/profile_guard.bpf.c, pinned as the exec deny list is: its four
// links under PIN_DIR and its rule maps by name, so enforcement outlives the tool. Applying again
// rewrites the pinned maps in place (new entries written, stale ones deleted) with the programs attached.
import { readFileSync } from 'node:fs';
import type { HelperClient } from '../helperClient';
import type { Target } from '../target';
import type { JsonValue } from '../../shared/helperProtocol';
import { PIN_DIR, PIN_ROOT, PolicyError, resolveOnTarget, rootExec } from './policy';
import type { Profile } from './profile';
import { canonicalKey, pathsToResolve, profileEntries } from './profileRules';

export const PROFILE_PROGRAMS = ['profile_fork', 'profile_exec', 'profile_open', 'profile_connect'] as const;
export const PROFILE_LINK_PINS = PROFILE_PROGRAMS.map((p) => `${PIN_DIR}/${p}_link`);
export const PROFILE_MAPS = ['bls_prof_profiles', 'bls_prof_subjects', 'bls_prof_paths', 'bls_prof_net'] as const;
export const PROFILE_EVENTS_MAP = 'bls_prof_events';
export const PROFILE_MAP_PINS = [...PROFILE_MAPS, PROFILE_EVENTS_MAP].map((m) => `${PIN_ROOT}/${m}`);
export const PROFILES_COPY = '/run/bpf-lsm-studio/profiles.json';
const OBJECT_NAME = 'profile_guard';

export function profileGuardObject(distDir: string): Buffer {
  return readFileSync(`${distDir}/bpf/profile_guard.bpf.o`);
}

export async function profilesPinned(target: Target): Promise<boolean> {
  return (await rootExec(target, 'test', ['-e', PROFILE_LINK_PINS[1]])).exitCode === 0;
}

export interface ProfileApplyResult {
  readonly replaced: boolean;
  readonly profiles: number;
  readonly rules: number;
  readonly entries: number;
  readonly removed: number;
  readonly missingSubjects: string[];
  /**
   * Subjects whose path is a link to another file (such as busybox): the probe knows subjects by inode, so
   * every name of that file is the subject, e.g. every busybox applet.
   */
  readonly linkedSubjects: Array<{ path: string; file: string }>;
}

/** The warning for a subject that is a link (see ProfileApplyResult.linkedSubjects). */
export function linkedSubjectWarning(s: { path: string; file: string }): string {
  return `subject ${s.path} is ${s.file}: the probe knows subjects by inode, so every program that is ${s.file} (under any name) is under this profile`;
}

export async function applyProfiles(target: Target, client: HelperClient, profiles: readonly Profile[], object: Buffer, progress: (m: string) => void = () => undefined): Promise<ProfileApplyResult> {
  const resolved = await resolveOnTarget(target, pathsToResolve(profiles));
  const { entries, missingSubjects, rules } = profileEntries(profiles, resolved);
  const subjectPaths = new Set(profiles.map((p) => p.subject.path));
  const linkedSubjects = resolved.filter((r) => subjectPaths.has(r.path) && r.resolved && r.resolved !== r.path).map((r) => ({ path: r.path, file: r.resolved! }));
  const replaced = await profilesPinned(target);
  progress(replaced ? 'profiles are in force: rewriting their rules in place' : `loading and attaching the profile_guard probe (${PROFILE_PROGRAMS.length} programs)`);
  const loaded = await client.loadObject(object, { name: OBJECT_NAME, ...(replaced ? { programs: [] } : {}) });
  try {
    // Rules first: a first attach then confines from its first hook call on.
    const wanted = new Map<string, Set<string>>(PROFILE_MAPS.map((m) => [m, new Set<string>()]));
    for (const e of entries) {
      await client.call('mapUpdate', { objectId: loaded.objectId, map: e.map, key: e.key as JsonValue, value: e.value as JsonValue });
      wanted.get(e.map)!.add(canonicalKey(e.key));
    }
    let removed = 0;
    for (const map of ['bls_prof_subjects', 'bls_prof_paths', 'bls_prof_net']) {
      const current = await client.call('mapEntries', { objectId: loaded.objectId, map, limit: 100_000 });
      for (const { key } of current.entries) {
        if (wanted.get(map)!.has(canonicalKey(key))) continue;
        await client.call('mapDelete', { objectId: loaded.objectId, map, key });
        removed++;
      }
    }
    if (!replaced) {
      const attached = await client.call('attach', { objectId: loaded.objectId, programs: [...PROFILE_PROGRAMS] });
      const failed = attached.results.find((r) => !r.ok);
      if (failed) throw new PolicyError(`attaching the profile_guard probe failed: ${failed.message ?? failed.code}`);
      const mk = await rootExec(target, 'mkdir', ['-p', PIN_DIR]);
      if (mk.exitCode !== 0) throw new PolicyError(`cannot create ${PIN_DIR} on ${target.id}: ${mk.stderr.trim()} (is bpffs mounted at ${PIN_ROOT}?)`);
      for (const [i, program] of PROFILE_PROGRAMS.entries()) await client.call('pinLink', { objectId: loaded.objectId, program, path: PROFILE_LINK_PINS[i] });
    }
    const copy = JSON.stringify({ profiles, appliedAt: new Date().toISOString(), rules, entries: entries.length }, null, 2);
    await rootExec(target, 'sh', ['-c', `mkdir -p /run/bpf-lsm-studio && cat > ${PROFILES_COPY}`], copy);
    return { replaced, profiles: profiles.length, rules, entries: entries.length, removed, missingSubjects, linkedSubjects };
  } finally {
    await client.call('unloadObject', { objectId: loaded.objectId }).catch(() => undefined);
  }
}

/**
 * Detaches profile_guard (gone when this returns: the helper unpins its links) and removes its maps and copy.
 * Resolves false when none were in force.
 */
export async function clearProfiles(target: Target, client: HelperClient): Promise<boolean> {
  const had = (await client.call('unpinLinks', { paths: [...PROFILE_LINK_PINS] })).removed > 0;
  const r = await rootExec(target, 'rm', ['-f', ...PROFILE_MAP_PINS, PROFILES_COPY]);
  if (r.exitCode !== 0) throw new PolicyError(`removing the profiles' pins on ${target.id} failed: ${r.stderr.trim()}`);
  return had;
}

export interface ProfileStatus {
  readonly active: boolean;
  readonly appliedAt?: string;
  readonly rules?: number;
  /** Map entries the rules became (paths by hash and by directory prefix, subjects by inode+device, ...). */
  readonly entries?: number;
  readonly profiles?: ReadonlyArray<{ name: string; mode: string; subject: string; descendants: boolean; default: string }>;
  /** Which of profile_guard's programs have their link pinned (attached). */
  readonly links?: ReadonlyArray<{ program: string; pinned: boolean }>;
}

/** What profiles are in force on the target: the copy apply left next to the pins, and which links are pinned. */
export async function profileStatus(target: Target): Promise<ProfileStatus> {
  const pins = await rootExec(target, 'sh', ['-c', PROFILE_LINK_PINS.map((p) => `test -e ${p} && echo 1 || echo 0`).join('; ')]);
  const pinned = pins.stdout.trim().split('\n').map((l) => l.trim() === '1');
  if (!pinned.some(Boolean)) return { active: false };
  const links = PROFILE_PROGRAMS.map((program, i) => ({ program, pinned: !!pinned[i] }));
  const copy = await rootExec(target, 'cat', [PROFILES_COPY]);
  try {
    const recorded = JSON.parse(copy.stdout) as { appliedAt?: string; rules?: number; entries?: number; profiles?: Profile[] };
    const profiles = (recorded.profiles ?? []).map((p) => ({ name: p.name, mode: p.mode, subject: p.subject.path, descendants: p.subject.descendants, default: p.default }));
    return { active: true, appliedAt: recorded.appliedAt, rules: recorded.rules, entries: recorded.entries, profiles, links };
  } catch {
    return { active: true, links };
  }
}
