// Replay and Propose over traces recorded on the built-in VM (test/fixtures/policy, as `bpf-lsm trace
// --json` wrote them): a proposal replayed on its own trace denies nothing, the same profile on `ls /root`
// denies the open of /root and names the rule; generalisations, deny-lists, connects, the exec deny list,
// descendants, the panel marking and the diff shown instead of overwriting.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTraceJsonl, observedAccesses } from '../../extension/core/policy/access';
import { parsePolicyDocument, type Profile } from '../../extension/core/policy/profile';
import { proposeProfile } from '../../extension/core/policy/propose';
import { describeRequest, formatReplay, markDenials, replay } from '../../extension/core/policy/replay';
import { judge } from '../../extension/core/policy/match';
import { formatPolicyJson, lineDiff, mergeProfile } from '../../extension/core/policy/policyText';
import type { HookEvent } from '../../extension/shared/traceEvent';

const fixtures = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'policy');
const trace = (name: string) => parseTraceJsonl(readFileSync(join(fixtures, name), 'utf8'), name);
const docOf = (...profiles: Profile[]) => parsePolicyDocument(mergeProfile(undefined, profiles[0]).replace(/\n$/, '').replace(/]\n}$/, `${profiles.slice(1).map((p) => `,${JSON.stringify(p)}`).join('')}]}`));

describe('policy propose and replay', () => {
  it('proposes for ls /home exactly what it opened, libraries by directory', () => {
    const { profile, notes } = proposeProfile(trace('ls-home.jsonl'));
    assert.equal(profile.subject.path, '/usr/bin/ls');
    assert.equal(profile.subject.descendants, false);
    assert.deepEqual(profile.exec, []);
    assert.deepEqual(profile.files, [
      { path: '/home', access: 'read' },
      { path: '/lib/x86_64-linux-gnu/', access: 'read' },
      { path: '/proc/filesystems', access: 'read' },
    ]);
    assert.equal(profile.mode, 'audit');
    assert.match(notes[0], /^shared libraries by directory: \/lib\/x86_64-linux-gnu\/ \(seen: libc.so.6, libpcre2-8.so.0.11.2, libselinux.so.1\)$/);
    assert.match(profile.description, /Generalised: shared libraries by directory/);
  });

  it('replays the proposal: 0 denials on its own trace, the open of /root on ls /root, naming the rule', () => {
    const doc = parsePolicyDocument(mergeProfile(undefined, proposeProfile(trace('ls-home.jsonl'), { mode: 'enforce' }).profile));
    const own = replay(doc, trace('ls-home.jsonl'));
    assert.equal(own.denials.length, 0);
    assert.equal(own.bySubjects, 5);
    const root = replay(doc, trace('ls-root-as-root.jsonl'));
    assert.deepEqual(root.denials.map((d) => [d.event.hook, d.request, d.verdict.rule, d.verdict.mode]), [
      ['file_open', { kind: 'file', path: '/root', access: 'read' }, 'ls: no files rule allows it (default deny)', 'enforce'],
    ]);
    assert.deepEqual(root.perRule, [{ rule: 'ls: no files rule allows it (default deny)', mode: 'enforce', count: 1 }]);
    // The panel's view: that event returns -EPERM and says why; the others are untouched.
    const events = trace('ls-root-as-root.jsonl');
    const marked = markDenials(events, root);
    const i = root.denials[0].index;
    assert.equal((marked[i] as HookEvent).ret, -1);
    assert.equal((marked[i] as HookEvent).args.replay, 'would deny: ls: no files rule allows it (default deny)');
    assert.equal(marked.filter((e, k) => e !== events[k]).length, 1);
  });

  it('follows forks and execs: children under the profile, /proc/<pid> as /proc/self, /tmp by directory, connects', () => {
    const events = trace('sh-children.jsonl');
    const { profile, notes } = proposeProfile(events);
    assert.deepEqual(profile.subject, { path: '/bin/sh', descendants: true });
    assert.deepEqual(profile.exec, ['/bin/busybox']);
    assert.deepEqual(profile.files, [
      { path: '/dev/null', access: 'read' },
      { path: '/etc/hostname', access: 'read' },
      { path: '/proc/self/status', access: 'read' },
      { path: '/tmp/', access: 'write' },
    ]);
    assert.deepEqual(profile.connect, [{ proto: 'tcp', addr: '127.0.0.1', port: 22 }]);
    assert.deepEqual(notes, ["the process's own /proc/<pid>/ as /proc/self/ (1 open)", 'temporary files by directory: /tmp/ (1 open)']);
    assert.equal(replay(parsePolicyDocument(mergeProfile(undefined, profile)), events).denials.length, 0);
    // Without descendants a child that execs another file leaves the profile. On the VM /bin/sh is busybox,
    // and so are the applets the children exec: the subject's own inode, so the probe keeps them under the
    // profile, and replay, which knows subjects by the inode the trace shows, judges their opens too.
    const alone = { ...profile, subject: { path: '/bin/sh', descendants: false }, files: [], connect: [] };
    const r = replay(parsePolicyDocument(mergeProfile(undefined, alone)), events);
    assert.deepEqual(r.denials.map((d) => d.request.kind === 'file' && d.request.path), ['/tmp/w18-out.txt', '/proc/self/status', '/dev/null', false, '/etc/hostname']);
    assert.equal(r.subjectMatching.byInodeOnly, r.subjectMatching.subjectExecs - 1, 'every exec after sh itself is busybox under another name');
    // A narrower connect rule denies the connect, and the rule says which list decided.
    const narrow = { ...profile, connect: [{ proto: 'udp' as const, addr: '127.0.0.0/8' }] };
    const c = replay(parsePolicyDocument(mergeProfile(undefined, narrow)), events);
    assert.deepEqual(c.perRule.map((x) => [x.rule, x.count]), [['sh: no connect rule allows it (default deny)', 1]]);
  });

  it('deny-lists deny only what a rule names; the exec deny list applies to everyone', () => {
    const events = trace('sh-children.jsonl');
    const deny: Profile = { name: 'shd', subject: { path: '/bin/sh', descendants: true }, mode: 'audit', default: 'allow', exec: [], files: [{ path: '/tmp/', access: 'write' }, { path: '/etc/', access: 'write' }], connect: [{ proto: 'tcp', addr: '127.0.0.0/8', port: 22 }] };
    const r = replay(docOf(deny), events);
    assert.deepEqual(r.perRule.map((x) => [x.rule, x.mode, x.count]), [
      ['shd: connect[0] tcp 127.0.0.0/8 port 22', 'audit', 1],
      ['shd: files[0] /tmp/ (write)', 'audit', 1],
    ]);
    const withDenyList = parsePolicyDocument(JSON.stringify({ mode: 'enforce', deny: ['/bin/busybox'] }));
    const e = replay(withDenyList, events);
    // sh itself (/bin/sh is busybox), its two applets re-executing /proc/self/exe, and nc run as /bin/busybox.
    assert.deepEqual(e.perRule, [{ rule: 'deny[0] /bin/busybox', mode: 'enforce', count: 4 }]);
  });

  it('judges access and addresses as the probe does', () => {
    const p: Profile = { name: 'p', subject: { path: '/x', descendants: false }, mode: 'enforce', default: 'deny', exec: ['/usr/bin/'], files: [{ path: '/etc/', access: 'read' }, { path: '/var/log/app.log', access: 'rw' }], connect: [{ proto: 'any', addr: 'fd00::/8' }] };
    assert.equal(judge(p, { kind: 'file', path: '/etc/passwd', access: 'read' }).denied, false);
    assert.equal(judge(p, { kind: 'file', path: '/etc/passwd', access: 'write' }).denied, true);
    assert.equal(judge(p, { kind: 'file', path: '/etcx', access: 'read' }).denied, true);
    assert.equal(judge(p, { kind: 'file', path: '/var/log/app.log', access: 'rw' }).rule, 'p: files[1] /var/log/app.log (rw)');
    assert.equal(judge(p, { kind: 'exec', path: '/usr/bin/id', filename: 'id' }).denied, false);
    assert.equal(judge(p, { kind: 'exec', path: '/bin/id', filename: '/bin/id' }).rule, 'p: no exec rule allows it (default deny)');
    assert.equal(judge(p, { kind: 'connect', proto: 'udp', family: 6, addr: 'fd12::1', port: 53 }).denied, false);
    assert.equal(judge(p, { kind: 'connect', proto: 'udp', family: 6, addr: 'fe80::1', port: 53 }).denied, true);
    assert.equal(judge(p, { kind: 'connect', proto: 'udp', family: 4, addr: '10.0.0.1', port: 53 }).denied, true);
  });

  it('knows subjects by the inode the trace shows, as the probe does: a hard link of the subject is the subject', () => {
    let time = 0;
    const hook = (pid: number, hookName: string, args: HookEvent['args']): HookEvent => ({ kind: 'hook', time: ++time, pid, tgid: pid, comm: 'x', hook: hookName, args, ret: 0 });
    const run = (pid: number, path: string, ino: number | undefined, opens: string) => [
      hook(pid, 'file_open', { file: { path, f_mode: 'FMODE_READ', f_flags: 'O_RDONLY|__FMODE_EXEC', ...(ino !== undefined ? { ino } : {}) } }),
      hook(pid, 'bprm_check_security', { bprm: { filename: path } }),
      hook(pid, 'file_open', { file: { path: opens, f_mode: 'FMODE_READ', f_flags: 'O_RDONLY' } }),
    ];
    const doc = docOf({ name: 'ls', subject: { path: '/usr/bin/ls', descendants: false }, mode: 'enforce', default: 'deny', exec: [], files: [{ path: '/home', access: 'read' }], connect: [] });
    // ls itself, ls as /usr/bin/dir (same inode 26), cat (another inode), and ls again with no inode recorded.
    const events = [...run(10, '/usr/bin/ls', 26, '/root'), ...run(11, '/usr/bin/dir', 26, '/root'), ...run(12, '/usr/bin/cat', 30, '/root'), ...run(13, '/usr/bin/ls', undefined, '/etc')];
    const r = replay(doc, events);
    assert.deepEqual(r.denials.map((d) => [d.event.pid, describeRequest(d.request)]), [[10, 'open /root (read)'], [11, 'open /root (read)'], [13, 'open /etc (read)']]);
    assert.deepEqual(r.subjectMatching, { subjectExecs: 3, byInodeOnly: 1, withoutInode: 1 });
    const text = formatReplay(r, 'replay');
    assert.match(text, /^subjects: 3 execs of a subject, matched by the executable's inode as the trace shows it \(the probe also compares the device, which traces do not record\); 1 of them under another name \(a hard link/m);
    assert.match(text, /1 by path only \(the trace shows no inode for them/);
  });

  it('says what is wrong with a trace or a trace without the program', () => {
    assert.throws(() => parseTraceJsonl('{"kind":"hook"}\nnot json\n', 't.jsonl'), /t.jsonl line 2 is not JSON/);
    assert.throws(() => parseTraceJsonl('{"a":1}\n', 't.jsonl'), /line 1 is not a trace event/);
    assert.throws(() => proposeProfile([]), /the trace shows no exec/);
    assert.equal([...observedAccesses([], [])].length, 0);
  });

  it('shows the difference against an existing file instead of overwriting it, keeping its other fields', () => {
    const existing = formatPolicyJson({ mode: 'audit', deny: ['/usr/bin/nc'], profiles: [{ name: 'ls', subject: { path: '/usr/bin/ls' }, files: ['/home'] }] }) + '\n';
    const merged = mergeProfile(existing, proposeProfile(trace('ls-home.jsonl')).profile, 'p.json');
    const doc = parsePolicyDocument(merged);
    assert.deepEqual(doc.exec, { mode: 'audit', deny: ['/usr/bin/nc'] });
    assert.equal(doc.profiles.length, 1);
    const diff = lineDiff(existing, merged);
    assert.match(diff, /^- +"files": \["\/home"\]$/m);
    assert.match(diff, /^\+ +\{ "path": "\/lib\/x86_64-linux-gnu\/", "access": "read" \},?$/m);
    assert.match(diff, /^ {8}"name": "ls",$/m);
    assert.equal(lineDiff(merged, merged), '');
    assert.throws(() => mergeProfile('{"profiles": 3}', proposeProfile(trace('ls-home.jsonl')).profile, 'p.json'), /p.json: "profiles" must be a list/);
  });
});
