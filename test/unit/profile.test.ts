// Profiles in the policy file: today's exec deny lists parse and become the same rules as before, the
// profile format and its errors, and the schema VS Code validates with knows the same fields.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicy, ruleEntries } from '../../extension/core/policy/policy';
import { ipBytes, parseCidr, parsePolicyDocument } from '../../extension/core/policy/profile';

const root = join(__dirname, '..', '..', '..');

describe('policy profiles', () => {
  it("reads today's exec deny lists exactly as before, with no profiles", () => {
    for (const text of ['{"mode":"audit","deny":["/usr/bin/nc","/usr/bin/nc"]}', '{"deny":[]}', '{"mode":"enforce","deny":["/usr/bin/vi"],"byContent":true}']) {
      const doc = parsePolicyDocument(text);
      assert.deepEqual(doc.exec, parsePolicy(text));
      assert.deepEqual(doc.profiles, []);
      const resolved = doc.exec.deny.map((path) => ({ path, resolved: path, ino: 7n, dev: 9n }));
      assert.deepEqual(ruleEntries(doc.exec, resolved), ruleEntries(parsePolicy(text), resolved));
    }
    // A file with profiles still gives the exec deny list its old meaning.
    const both = '{"mode":"audit","deny":["/usr/bin/nc"],"profiles":[{"subject":{"path":"/usr/bin/ls"}}]}';
    assert.deepEqual(parsePolicyDocument(both).exec, { mode: 'audit', deny: ['/usr/bin/nc'] });
  });

  it('parses a profile with defaults: audit, allow-list, name from the subject, files read-only', () => {
    const doc = parsePolicyDocument(
      JSON.stringify({
        profiles: [
          {
            subject: { path: '/usr/bin/ls', descendants: true },
            exec: ['/usr/bin/'],
            files: ['/etc/ld.so.cache', { path: '/tmp/', access: 'rw' }],
            connect: [{ proto: 'udp', addr: '10.0.0.0/8', port: 53 }, { addr: '::1' }],
          },
        ],
      }),
    );
    assert.deepEqual(doc.profiles, [
      {
        name: 'ls',
        subject: { path: '/usr/bin/ls', descendants: true },
        mode: 'audit',
        default: 'deny',
        exec: ['/usr/bin/'],
        files: [{ path: '/etc/ld.so.cache', access: 'read' }, { path: '/tmp/', access: 'rw' }],
        connect: [{ proto: 'udp', addr: '10.0.0.0/8', port: 53 }, { proto: 'any', addr: '::1' }],
      },
    ]);
  });

  it('rejects what the probe cannot enforce, naming the field and what to write', () => {
    const p = (profile: object) => () => parsePolicyDocument(JSON.stringify({ profiles: [profile] }), 'p.json');
    assert.throws(p({}), /p.json: profiles\[0\].subject must be \{ "path"/);
    assert.throws(p({ subject: { path: 'ls' } }), /profiles\[0\].subject.path must be an absolute path/);
    assert.throws(p({ subject: { path: '/x' }, mode: 'block' }), /mode must be "audit" or "enforce"/);
    assert.throws(p({ subject: { path: '/x' }, default: 'maybe' }), /default must be "deny" \(the rules are an allow-list\)/);
    assert.throws(p({ subject: { path: '/x' }, files: [{ path: '/etc/', access: 'append' }] }), /files\[0\].access must be "read", "write" or "rw"/);
    assert.throws(p({ subject: { path: '/x' }, connect: [{ addr: '10.0.0.300' }] }), /connect\[0\].addr: "10.0.0.300" is not an IPv4 or IPv6 address/);
    assert.throws(p({ subject: { path: '/x' }, connect: [{ addr: '10.0.0.0/33' }] }), /prefix length outside 0-32/);
    assert.throws(p({ subject: { path: '/x' }, connect: [{ port: 70000 }] }), /port must be 0-65535/);
    assert.throws(p({ subject: { path: '/x' }, allow: [] }), /unknown field\(s\) allow/);
    const two = { profiles: [{ subject: { path: '/a' }, name: 'x' }, { subject: { path: '/b' }, name: 'x' }] };
    assert.throws(() => parsePolicyDocument(JSON.stringify(two)), /two profiles are named "x"/);
    const many = { profiles: [{ subject: { path: '/a' }, files: Array.from({ length: 5000 }, (_, i) => `/f${i}`) }] };
    assert.throws(() => parsePolicyDocument(JSON.stringify(many)), /5000 profile rules; the probe holds at most 4096/);
  });

  it('parses IPv4 and IPv6 addresses and prefixes', () => {
    assert.deepEqual(parseCidr('10.1.2.3/8'), { family: 4, bytes: Buffer.from([10, 1, 2, 3]), prefix: 8 });
    assert.equal(parseCidr('any'), 'any');
    assert.deepEqual(ipBytes('::1', 6), Buffer.from([...Array(15).fill(0), 1]));
    assert.deepEqual(ipBytes('fe80::1:2', 6).toString('hex'), 'fe800000000000000000000000010002');
    assert.deepEqual(ipBytes('::ffff:10.0.0.1', 6).toString('hex'), '00000000000000000000ffff0a000001');
  });

  it('has a schema for VS Code that knows the same fields as the parser', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    assert.ok(pkg.contributes.jsonValidation.some((v: { fileMatch: string[]; url: string }) => v.url === './schemas/policy.schema.json' && v.fileMatch.includes('bpf-lsm.policy.json')));
    const schema = JSON.parse(readFileSync(join(root, 'schemas', 'policy.schema.json'), 'utf8'));
    assert.deepEqual(Object.keys(schema.properties).sort(), ['$schema', 'byContent', 'deny', 'mode', 'profiles']);
    const profile = schema.definitions.profile;
    assert.deepEqual(Object.keys(profile.properties).sort(), ['connect', 'default', 'description', 'exec', 'files', 'mode', 'name', 'subject']);
    assert.deepEqual(profile.properties.files.items.oneOf[1].properties.access.enum, ['read', 'write', 'rw']);
    assert.deepEqual(profile.properties.connect.items.properties.proto.enum, ['tcp', 'udp', 'any']);
    // The schema's $schema property lets a file name it; the parser accepts it too.
    assert.deepEqual(parsePolicyDocument('{"$schema":"./schemas/policy.schema.json","profiles":[]}').profiles, []);
  });
});
