// `bpf-lsm policy apply|clear|status|events`: exec enforcement through bpf/exec_block.bpf.c. An applied
// policy is pinned on the target's bpffs and stays in force after this command exits, until cleared.
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { createTarget, resolveTargetId } from '../core/targets';
import { findDist } from '../core/targets/deploy';
import { HelperClient } from '../core/helperClient';
import { applyPolicy, clearPolicy, EVENTS_MAP, execBlockObject, policyStatus, readPolicyFile } from '../core/policy/policy';
import { execEventDecoder } from '../core/policy/events';
import { iterateRecords } from '../shared/helperFrames';
import { runPropose, runReplay } from './policyProfiles';
import { parsePolicyDocument } from '../core/policy/profile';
import { applyProfiles, clearProfiles, linkedSubjectWarning, profileGuardObject, PROFILE_EVENTS_MAP, profileStatus } from '../core/policy/profileApply';
import { profileEventDecoder, profileHookEvent } from '../core/policy/profileEvents';
import { readFileSync } from 'node:fs';

const usage = `usage: bpf-lsm policy apply [--target T] FILE
       bpf-lsm policy clear [--target T]
       bpf-lsm policy status [--target T] [--json]
       bpf-lsm policy events [--target T]       (prints matched execs and profile denials/audits as they happen, until Ctrl-C)
       bpf-lsm policy replay [--json] POLICY TRACE.jsonl
       bpf-lsm policy propose [--out FILE] [--force] [--enforce] [--subject PATH] [--from TRACE.jsonl | [--target T] [--as-root] [--save-trace T.jsonl] -- PROGRAM ARGS...]
  --target T   local, vm, ssh:<host> or auto (default: $BPF_LSM_TARGET, else auto)
FILE is JSON: { "mode": "audit" | "enforce", "deny": ["/abs/path", ...], "byContent": false }. Each path is
denied by its resolved path and by inode+device on the target, so a rename or mv does not get around it;
with "byContent": true also by content (the kernel's IMA hash of every executed file), so a copy does not. Applying again
replaces the rules in place; the policy stays in force (pinned under /sys/fs/bpf) until "policy clear".
FILE may also hold "profiles" (schemas/policy.schema.json): what one executable may exec, open and connect to.
replay judges every exec, open and connect of a recorded trace (bpf-lsm trace --json) by the policy and lists
what it would deny, with counts per rule (exit 3 when there are any). propose writes the profile that permits
exactly what a program did (from a trace, or traced now), generalised as it says; when FILE exists it prints
the difference instead of overwriting (--force writes it). Proposed profiles are in audit mode unless --enforce.`;

export const policyCommand: Subcommand = {
  name: 'policy',
  summary: 'apply, show or clear an enforcement policy (pinned: it outlives this command); replay it on traces, propose profiles',
  usage,
  async run(argv) {
    const args = parseArgs(argv, {
      target: { value: true }, json: {}, quiet: {},
      out: { value: true }, from: { value: true }, subject: { value: true }, 'save-trace': { value: true }, force: {}, enforce: {}, 'as-root': {},
    });
    const [verb, ...files] = args.positional;
    const progress = (m: string) => {
      if (!args.flags.has('quiet')) process.stderr.write(`bpf-lsm policy: ${m}\n`);
    };
    if (verb === 'replay') return runReplay(args);
    if (verb === 'propose') return runPropose(args, resolveTargetId(String(args.flags.get('target') ?? process.env.BPF_LSM_TARGET ?? 'auto')), progress);
    if (!['apply', 'clear', 'status', 'events'].includes(verb ?? '')) throw new UsageError(verb ? `unknown policy action "${verb}"` : 'say apply, clear, status, events, replay or propose');
    if (verb === 'apply' && files.length !== 1) throw new UsageError('policy apply takes one policy FILE');
    if (verb !== 'apply' && files.length) throw new UsageError(`policy ${verb} takes no file`);
    const policy = verb === 'apply' ? readPolicyFile(files[0]) : undefined;
    const profiles = verb === 'apply' ? parsePolicyDocument(readFileSync(files[0], 'utf8'), files[0]).profiles : [];
    const targetId = resolveTargetId(String(args.flags.get('target') ?? process.env.BPF_LSM_TARGET ?? 'auto'));
    const target = createTarget(targetId);
    if (target.stopped() && verb !== 'apply') {
      console.log(args.flags.has('json') ? JSON.stringify({ active: false }) : `no policy in force: ${target.description} is not running`);
      return 0;
    }
    await target.ensureUp(progress);
    if (verb === 'status') {
      const s = await policyStatus(target);
      const profiles = await profileStatus(target);
      if (args.flags.has('json')) console.log(JSON.stringify({ ...s, profiles }));
      else {
        if (!s.active) console.log(`no exec deny list in force on ${targetId}`);
        else {
          console.log(`exec deny list in force on ${targetId}: mode ${s.mode ?? 'unknown'}, ${s.rules ?? '?'} rules, applied ${s.appliedAt ?? 'at an unknown time'}`);
          for (const p of s.deny ?? []) console.log(`  deny ${p}`);
          if (s.link) console.log(`  link ${s.link.id} (program ${s.link.prog_id}) pinned at /sys/fs/bpf/bpf-lsm-studio/exec_block_link`);
        }
        if (!profiles.active) console.log(`no profiles in force on ${targetId}`);
        else {
          console.log(`profiles in force on ${targetId}: ${profiles.rules ?? '?'} rules as ${profiles.entries ?? '?'} map entries, applied ${profiles.appliedAt ?? 'at an unknown time'}`);
          for (const p of profiles.profiles ?? []) console.log(`  ${p.name} (${p.mode}, default ${p.default}): subject ${p.subject}${p.descendants ? ' and what it starts' : ''}`);
          const missing = (profiles.links ?? []).filter((l) => !l.pinned).map((l) => l.program);
          if (missing.length) console.log(`  not attached: ${missing.join(', ')} (apply the file again, or clear)`);
        }
      }
      return 0;
    }
    const object = execBlockObject(findDist());
    const client = await HelperClient.connect(await target.startHelper(), { client: `bpf-lsm policy ${verb}` });
    try {
      if (verb === 'clear') {
        const had = await clearPolicy(target, client);
        const hadProfiles = await clearProfiles(target, client);
        console.log(had || hadProfiles ? `policy cleared on ${targetId}: ${[had ? 'exec_block' : '', hadProfiles ? 'profile_guard' : ''].filter(Boolean).join(' and ')} detached, pins removed` : `no policy was in force on ${targetId}`);
        return 0;
      }
      if (verb === 'apply') {
        const r = await applyPolicy(target, client, policy!, object, progress);
        for (const m of r.missing) progress(`warning: ${m} does not exist on ${targetId}: denied by path only (once it exists, re-apply to add its inode)`);
        if (r.loaded) console.log(`policy ${r.replaced ? 'replaced' : 'applied'} on ${targetId}: mode ${r.mode}, ${r.rules} rules${r.removed ? `, ${r.removed} removed` : ''}; in force until "bpf-lsm policy clear"`);
        else if (!profiles.length) console.log(`nothing to enforce on ${targetId}: the file denies no executable and has no profiles`);
        if (profiles.length) {
          const p = await applyProfiles(target, client, profiles, profileGuardObject(findDist()), progress);
          for (const m of p.missingSubjects) progress(`warning: subject ${m} does not exist on ${targetId}: its profile confines nothing (re-apply once it exists)`);
          for (const l of p.linkedSubjects) progress(`warning: ${linkedSubjectWarning(l)}`);
          console.log(`profiles ${p.replaced ? 'replaced' : 'applied'} on ${targetId}: ${profiles.map((x) => `${x.name} (${x.mode})`).join(', ')}; ${p.rules} rules as ${p.entries} map entries${p.removed ? `, ${p.removed} removed` : ''}`);
        } else if (await clearProfiles(target, client)) console.log(`profiles removed on ${targetId} (the file has none)`);
        return 0;
      }
      // events: open the pinned maps (no program is loaded) and follow the event rings.
      const execActive = (await policyStatus(target)).active;
      const inForce = await profileStatus(target);
      if (!execActive && !inForce.active) {
        console.error(`no policy in force on ${targetId}; apply one first`);
        return 1;
      }
      if (execActive) {
        const loaded = await client.loadObject(object, { name: 'exec_block', programs: [] });
        const decode = execEventDecoder(object);
        await client.startTrace({ objectId: loaded.objectId, ringBuffers: [EVENTS_MAP] }, (batch) => {
          for (const r of iterateRecords(batch.records)) {
            const e = decode(r.data);
            console.log(JSON.stringify({ ...e, timeNs: String(e.timeNs), ino: String(e.ino), dev: String(e.dev) }));
          }
        });
      }
      if (inForce.active) {
        const guard = profileGuardObject(findDist());
        const names = (inForce.profiles ?? []).map((p) => p.name);
        const loaded = await client.loadObject(guard, { name: 'profile_guard', programs: [] });
        const decode = profileEventDecoder(guard);
        await client.startTrace({ objectId: loaded.objectId, ringBuffers: [PROFILE_EVENTS_MAP] }, (batch) => {
          for (const r of iterateRecords(batch.records)) console.log(JSON.stringify(profileHookEvent(decode(r.data), names)));
        });
      }
      progress(`following ${[execActive ? 'matched execs' : '', inForce.active ? 'profile denials and audits' : ''].filter(Boolean).join(' and ')} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      return 0;
    } finally {
      await client.close();
    }
  },
};
