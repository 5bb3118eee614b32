// Profiles as the probe's map entries (bpf/profile_guard.h layouts): settings per slot, subjects by
// inode+device, path rules under every spelling with access merged, connect prefixes carrying the ports of
// every covering rule, and the key form that lets apply tell stale entries from wanted ones.
import * as assert from 'node:assert/strict';
import { fnv1a64 } from '../../extension/core/policy/policy';
import type { Profile } from '../../extension/core/policy/profile';
import { canonicalKey, depthBit, pathsToResolve, profileEntries, PROFILE_EXEC_EXACT, PROFILE_FILE_EXACT, PROFILE_FILE_PREFIX } from '../../extension/core/policy/profileRules';

const base: Profile = { name: 'ls', subject: { path: '/usr/bin/ls', descendants: true }, mode: 'enforce', default: 'deny', exec: [], files: [], connect: [] };

describe('profile map entries', () => {
  it('writes one settings slot per profile (the rest off), and the subject by inode and device', () => {
    const { entries, missingSubjects } = profileEntries([base, { ...base, name: 'b', subject: { path: '/opt/missing', descendants: false }, mode: 'audit', default: 'allow' }], [{ path: '/usr/bin/ls', resolved: '/usr/bin/ls', ino: 26n, dev: 2n }, { path: '/opt/missing' }]);
    const slots = entries.filter((e) => e.map === 'bls_prof_profiles');
    assert.equal(slots.length, 64);
    assert.deepEqual(slots.slice(0, 3).map((s) => s.value), [
      { mode: 2, default_deny: 1, descendants: 1, exec_dirs: 0, file_dirs: 0, pad: 0 },
      { mode: 1, default_deny: 0, descendants: 0, exec_dirs: 0, file_dirs: 0, pad: 0 },
      { mode: 0, default_deny: 0, descendants: 0, exec_dirs: 0, file_dirs: 0, pad: 0 },
    ]);
    assert.deepEqual(entries.filter((e) => e.map === 'bls_prof_subjects'), [{ map: 'bls_prof_subjects', key: { ino: '26', dev: '2' }, value: 0 }]);
    assert.deepEqual(missingSubjects, ['/opt/missing']);
  });

  it('hashes paths as written and as resolved on the target, merging access of the same path', () => {
    const p: Profile = { ...base, exec: ['/bin/sh'], files: [{ path: '/etc/hostname', access: 'read' }, { path: '/etc/hostname', access: 'write' }, { path: '/lib/', access: 'read' }, { path: '/proc/self/status', access: 'read' }] };
    assert.deepEqual(pathsToResolve([p]), ['/usr/bin/ls', '/bin/sh', '/etc/hostname', '/lib/']);
    const { entries } = profileEntries([p], [{ path: '/bin/sh', resolved: '/bin/busybox' }, { path: '/lib/', resolved: '/usr/lib' }, { path: '/etc/hostname', resolved: '/etc/hostname' }]);
    const paths = entries.filter((e) => e.map === 'bls_prof_paths').map((e) => [(e.key as { kind: number }).kind, (e.key as { hash: string }).hash, e.value]);
    assert.deepEqual(paths, [
      [PROFILE_EXEC_EXACT, fnv1a64('/bin/sh').toString(), { access: 4, rule: 0 }],
      [PROFILE_EXEC_EXACT, fnv1a64('/bin/busybox').toString(), { access: 4, rule: 0 }],
      [PROFILE_FILE_EXACT, fnv1a64('/etc/hostname').toString(), { access: 3, rule: 0 }],
      [PROFILE_FILE_PREFIX, fnv1a64('/lib/').toString(), { access: 1, rule: 2 }],
      [PROFILE_FILE_PREFIX, fnv1a64('/usr/lib/').toString(), { access: 1, rule: 2 }],
      [PROFILE_FILE_EXACT, fnv1a64('/proc/self/status').toString(), { access: 1, rule: 3 }],
    ]);
  });

  it('marks the depths of directory rules (written and resolved) so the probe looks prefixes up only there', () => {
    const p: Profile = { ...base, exec: ['/usr/local/bin/', '/usr/bin/ls'], files: [{ path: '/', access: 'read' }, { path: '/lib/', access: 'read' }, { path: '/etc/hostname', access: 'read' }] };
    const { entries } = profileEntries([p], [{ path: '/lib/', resolved: '/usr/lib' }]);
    const slot = entries.find((e) => e.map === 'bls_prof_profiles' && e.key === 0)!.value as { exec_dirs: number; file_dirs: number };
    assert.equal(slot.exec_dirs, 1 << 3, '/usr/local/bin/ ends at the 4th "/"');
    assert.equal(slot.file_dirs, (1 << 0) | (1 << 1) | (1 << 2), '"/" depth 1, "/lib/" depth 2, its resolved "/usr/lib/" depth 3');
    assert.equal(depthBit(`/${'a/'.repeat(40)}`), 2 ** 31, 'deeper than 32 shares the last bit');
  });

  it('gives each connect prefix the ports of every rule covering it, so one longest-prefix lookup decides', () => {
    const p: Profile = { ...base, connect: [{ proto: 'udp', addr: '10.0.0.0/8', port: 53 }, { proto: 'tcp', addr: '10.1.0.0/16', port: 443 }, { proto: 'any', addr: 'any' }] };
    const net = profileEntries([p], []).entries.filter((e) => e.map === 'bls_prof_net');
    const byPrefix = Object.fromEntries(net.map((e) => [(e.key as { prefixlen: number; family: number }).family + '/' + ((e.key as { prefixlen: number }).prefixlen - 64), (e.value as { ports: Array<{ rule: number }> }).ports.map((x) => x.rule)]));
    assert.deepEqual(byPrefix, { '4/8': [0, 2], '4/16': [0, 1, 2], '4/0': [2], '6/0': [2] });
    const k16 = net.find((e) => (e.key as { prefixlen: number }).prefixlen === 80)!.key as { profile: number; addr: number[] };
    assert.deepEqual(k16.addr, [Buffer.from([10, 1, 0, 0]).readUInt32LE(0), 0, 0, 0], 'address bytes in network order, as words');
    assert.equal(k16.profile, 0);
    const second = profileEntries([base, p], []).entries.find((e) => e.map === 'bls_prof_net')!.key as { profile: number };
    assert.equal(second.profile, 0x01000000, 'the profile index is big-endian in the trie key');
    const tooMany: Profile = { ...base, connect: Array.from({ length: 17 }, (_, i) => ({ proto: 'tcp' as const, addr: '10.0.0.1', port: i + 1 })) };
    assert.throws(() => profileEntries([tooMany], []), /17 protocol\/port pairs apply to 0a000001.*\/32; the probe holds 16 per address prefix/);
  });

  it('compares keys as the helper decodes them (u64 as decimal strings) and as written here', () => {
    assert.equal(canonicalKey({ profile: 0, kind: 3, hash: '18446744073709551615' }), canonicalKey({ hash: 18446744073709551615n, kind: '3', profile: 0 }));
    assert.notEqual(canonicalKey({ a: [1, 2] }), canonicalKey({ a: [2, 1] }));
  });
});
