// Scenario files (*.lsmtest.json): the parser and its errors (with lines), where each scenario starts, the
// schema VS Code validates with, the setup script (run for real in a temp folder), outcomes against
// expectations, map encoders and JUnit output.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScenarioFile } from '../../extension/core/testing/scenarioFile';
import { findScenarioFiles, readScenarioFile } from '../../extension/core/testing/discover';
import { setupScript } from '../../extension/core/testing/runner';
import { ScenarioPolicy } from '../../extension/core/testing/scenarioPolicy';
import { describeOutcome, describeStep, outcomeMatches } from '../../extension/core/testing/steps';
import { encodeValue, inodePaths } from '../../extension/core/testing/encoders';
import { junitXml } from '../../extension/core/testing/junit';
import { resetKind, writableGlobals } from '../../extension/core/testing/probeState';
import { eventMatches, listEvents, tracedHooks, unmatchedEvents, untraced } from '../../extension/core/testing/stepEvents';
import type { HookEvent } from '../../extension/shared/traceEvent';

const root = join(__dirname, '..', '..', '..');
const minimal = (scenarios: unknown[], extra: object = {}) => JSON.stringify({ probes: ['p.bpf.c'], ...extra, scenarios }, null, 2);

describe('scenario files', () => {
  it('parses the examples, with the line each scenario starts on', () => {
    const files = findScenarioFiles([join(root, 'examples')]);
    assert.deepEqual(files.map((f) => f.slice(root.length + 1)), ['examples/exec-blocker/exec-blocker.lsmtest.json', 'examples/open-guard/open-guard.lsmtest.json', 'examples/profile-ls/profile-ls.lsmtest.json']);
    const f = readScenarioFile(files[0]);
    assert.equal(f.scenarios.length, 7);
    const lines = readFileSync(files[0], 'utf8').split('\n');
    for (const s of f.scenarios) assert.ok(lines[s.line - 1].includes(JSON.stringify(s.name)), `line ${s.line} holds "${s.name}"`);
    assert.deepEqual(f.kernels, ['6.1', '6.12']);
  });

  it('says what is wrong and where', () => {
    const t = (text: string) => () => parseScenarioFile(text, 'x.lsmtest.json');
    assert.throws(t('{ "probes": ['), /x\.lsmtest\.json:1: not valid JSON/);
    assert.throws(t('{"scenarios": []}'), /"probes" lists the probe sources/);
    assert.throws(t(minimal([])), /"scenarios" lists at least one/);
    const two = minimal([{ name: 'a', steps: [{ exec: ['/bin/true'], expect: 'allowed' }] }, { name: 'b', steps: [{ exec: ['true'], expect: 'allowed' }] }]);
    assert.throws(t(two), (e: Error) => /x\.lsmtest\.json:\d+: step 1: "exec" is the argv, starting with an absolute program path/.test(e.message) && e.message.includes(`:${two.split('\n').findIndex((l) => l.includes('"b"')) + 1}:`));
    assert.throws(t(minimal([{ name: 'a', steps: [{ open: '/x', expect: 'denied' }] }])), /"expect" is "allowed", an errno name/);
    assert.throws(t(minimal([{ name: 'a', steps: [{ open: '/x', expect: { exit: 0 } }] }])), /\(exec only\) \{ "exit": N \}/);
    assert.throws(t(minimal([{ name: 'a', steps: [{ open: '/x', as: 'admin', expect: 'allowed' }] }])), /"as" is "root", "user"/);
    assert.throws(t(minimal([{ name: 'a', steps: [{ connect: 'localhost', expect: 'allowed' }] }])), /IPv4 address and port/);
    assert.throws(t(minimal([{ name: 'a', steps: [] }])), /"steps" lists at least one step/);
    assert.throws(t(minimal([{ name: 'a', steps: [{ open: '/x', expect: 'allowed' }] }, { name: 'a', steps: [{ open: '/x', expect: 'allowed' }] }])), /two scenarios are named "a"/);
    assert.throws(t(minimal([{ name: 'a', steps: [{ open: '/x', expect: 'allowed' }] }], { kernels: ['5.10'] })), /"kernels" lists VM kernels: 6\.1, 6\.12/);
    assert.throws(t(minimal([{ name: 'a', steps: [{ open: '/x', expect: 'allowed' }] }], { setup: [{ copy: 'a', to: '/b' }] })), /"copy" must be an absolute path/);
    assert.throws(t(minimal([{ name: 'a', steps: [{ open: '/x', expect: 'allowed' }] }], { maps: { m: [{ key: 1 }] } })), /map "m" entry 1: needs "key" and "value"/);
    const ev = (events: unknown) => t(minimal([{ name: 'a', steps: [{ open: '/x', expect: 'allowed', events }] }]));
    assert.throws(ev({ hook: 'file_open' }), /step 1: "events" is a list of/);
    assert.throws(ev([{ args: {} }]), /expected event 1: "hook" is an LSM hook name/);
    assert.throws(ev([{ hook: 'file_open', ret: 'EPERM' }]), /"ret" is the hook's return value, an integer/);
    assert.throws(ev([{ hook: 'file_open', args: { 'file..path': 'x' } }]), /"file\.\.path" is not a dotted argument path/);
    assert.throws(ev([{ hook: 'file_open', args: { 'file.path': ['x'] } }]), /argument "file\.path" must be a string, number, boolean or null/);
    assert.throws(ev([{ hook: 'file_open', retval: 0 }]), /unknown field "retval" \(known: hook, args, ret\)/);
    const ok = parseScenarioFile(minimal([{ name: 'a', steps: [{ open: '/x', expect: 'allowed', events: [{ hook: 'file_open', args: { 'file.path': '/x' }, ret: 0 }] }] }]), 'x.lsmtest.json');
    assert.deepEqual(ok.scenarios[0].steps[0].events, [{ hook: 'file_open', args: { 'file.path': '/x' }, ret: 0 }]);
  });

  it('takes a policy file to enforce, with or without probes, and reads it as policy apply does', () => {
    const steps = [{ name: 'a', steps: [{ exec: ['/usr/bin/ls', '/root'], expect: { exit: 2 } }] }];
    const only = parseScenarioFile(JSON.stringify({ policy: 'p.policy.json', scenarios: steps }), 'x.lsmtest.json');
    assert.deepEqual([only.policy, only.probes], ['p.policy.json', []]);
    assert.equal(parseScenarioFile(minimal(steps, { policy: 'p.policy.json' }), 'x.lsmtest.json').policy, 'p.policy.json');
    assert.equal(parseScenarioFile(minimal(steps), 'x.lsmtest.json').policy, undefined);
    assert.throws(() => parseScenarioFile(JSON.stringify({ policy: 3, scenarios: steps }), 'x.lsmtest.json'), /"policy" is a policy file/);
    assert.throws(() => parseScenarioFile(JSON.stringify({ probes: [], scenarios: steps }), 'x.lsmtest.json'), /"probes" lists the probe sources .* \(or give a "policy" file to enforce\)/);

    const example = readScenarioFile(join(root, 'examples', 'profile-ls', 'profile-ls.lsmtest.json'));
    const policy = ScenarioPolicy.read(example)!;
    assert.ok(policy, 'the example names its policy');
    assert.equal(ScenarioPolicy.read(parseScenarioFile(minimal(steps), 'x.lsmtest.json')), undefined);
    const dir = mkdtempSync(join(tmpdir(), 'bls-policy-'));
    try {
      const missing = parseScenarioFile(JSON.stringify({ policy: 'none.policy.json', scenarios: steps }), join(dir, 'x.lsmtest.json'));
      assert.throws(() => ScenarioPolicy.read(missing), /the policy file none.policy.json cannot be read: ENOENT/);
      writeFileSync(join(dir, 'bad.policy.json'), '{"profiles": [{"subject": {"path": "ls"}}]}');
      const bad = parseScenarioFile(JSON.stringify({ policy: 'bad.policy.json', scenarios: steps }), join(dir, 'x.lsmtest.json'));
      assert.throws(() => ScenarioPolicy.read(bad), /bad.policy.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has a schema for VS Code that knows the same steps and fields', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    assert.deepEqual(pkg.contributes.jsonValidation.filter((v: { url: string }) => v.url.includes('lsmtest')), [{ fileMatch: '*.lsmtest.json', url: './schemas/lsmtest.schema.json' }]);
    const schema = JSON.parse(readFileSync(join(root, 'schemas', 'lsmtest.schema.json'), 'utf8'));
    assert.deepEqual(schema.definitions.step.oneOf.map((s: { required: string[] }) => s.required[0]), ['exec', 'open', 'connect', 'rename']);
    assert.deepEqual(Object.keys(schema.properties).sort(), ['$schema', 'description', 'kernels', 'maps', 'policy', 'probes', 'scenarios', 'setup']);
    assert.deepEqual(schema.required, ['scenarios']);
    assert.deepEqual(schema.anyOf, [{ required: ['probes'] }, { required: ['policy'] }]);
    assert.deepEqual(schema.properties.kernels.items.enum, ['6.1', '6.12']);
    for (const step of schema.definitions.step.oneOf) assert.deepEqual(step.properties.events, { $ref: '#/definitions/events' });
    assert.deepEqual(Object.keys(schema.definitions.events.items.properties), ['hook', 'args', 'ret']);
  });
});

describe('scenario setup, outcomes, encoders, JUnit', () => {
  it('runs all setup steps as one script that creates what it says, contents byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bls-setup-'));
    try {
      const content = "two lines, 'quotes', $HOME and `ticks`\nend\n";
      const { script, input } = setupScript([{ mkdir: join(dir, 'a b'), mode: '0700' }, { write: join(dir, 'a b', 'f.txt'), content }, { copy: '/bin/true', to: join(dir, 'deep', 'x', 't'), mode: '0750' }]);
      execFileSync('sh', ['-c', script], { input });
      assert.equal(statSync(join(dir, 'a b')).mode & 0o777, 0o700);
      assert.equal(readFileSync(join(dir, 'a b', 'f.txt'), 'utf8'), content);
      assert.equal(statSync(join(dir, 'deep', 'x', 't')).mode & 0o777, 0o750);
      const bad = setupScript([{ copy: join(dir, 'missing'), to: join(dir, 'y') }, { mkdir: join(dir, 'never') }]);
      assert.throws(() => execFileSync('sh', ['-c', bad.script], { input: bad.input, stdio: 'pipe' }), (e: { stderr: Buffer }) => e.stderr.toString().includes(`setup "copy ${join(dir, 'missing')} to ${join(dir, 'y')}" failed`));
      assert.equal(existsSync(join(dir, 'never')), false, 'setup stops at the first failure');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('judges outcomes against expectations and says both', () => {
    assert.equal(outcomeMatches('EPERM', { kind: 'errno', errno: 'EPERM' }), true);
    assert.equal(outcomeMatches('EPERM', { kind: 'exit', exit: 0 }), false);
    assert.equal(outcomeMatches('allowed', { kind: 'exit', exit: 3 }), true);
    assert.equal(outcomeMatches('allowed', { kind: 'errno', errno: 'EACCES' }), false);
    assert.equal(outcomeMatches({ exit: 0 }, { kind: 'exit', exit: 1 }), false);
    assert.equal(describeStep({ exec: ['/tmp/x/nc', '-h'], as: 'user', expect: 'EPERM' }), 'exec /tmp/x/nc -h as uid 1000');
    assert.equal(describeStep({ open: '/etc/shadow', expect: 'allowed' }), 'open /etc/shadow O_RDONLY as root');
    assert.equal(describeOutcome({ kind: 'exit', exit: 0 }), 'exit 0');
  });

  it('encodes path hashes and inodes for map keys', () => {
    // FNV-1a 64 of "/tmp/x/nc", as exec_blocker.bpf.c computes it over bpf_d_path's output.
    assert.equal(encodeValue({ fnv1a64: '' }, new Map()), '14695981039346656037');
    assert.equal(encodeValue({ fnv1a64: 'a' }, new Map()), '12638187200555641996');
    assert.deepEqual(encodeValue({ k: { inode: '/d' }, n: 1 }, new Map([['/d', { ino: 5n, dev: 8n }]])), { k: { ino: '5', dev: '8' }, n: 1 });
    assert.deepEqual([...inodePaths([{ key: { inode: '/a' } }, { inode: '/b' }])], ['/a', '/b']);
    assert.throws(() => encodeValue({ inode: '/gone' }, new Map()), /no such file on the target/);
  });

  it('writes JUnit with the kernel in each test case name', () => {
    const xml = junitXml(
      [
        { file: '/w/a.lsmtest.json', scenario: 'nc is <denied>', line: 3, kernel: '6.1', passed: true, durationMs: 1200 },
        { file: '/w/a.lsmtest.json', scenario: 'nc is <denied>', line: 3, kernel: '6.12', passed: false, message: 'exec /tmp/x/nc as uid 1000 on 6.12: expected EPERM, got exit 0\n  output: x', durationMs: 800 },
      ],
      '/w',
    );
    assert.match(xml, /<testsuites name="bpf-lsm test" tests="2" failures="1" time="2\.000">/);
    assert.match(xml, /<testcase classname="a\.lsmtest\.json" name="nc is &lt;denied&gt; \[6\.1\]" time="1\.200"\/>/);
    assert.match(xml, /name="nc is &lt;denied&gt; \[6\.12\]" time="0\.800">\n\s+<failure message="exec \/tmp\/x\/nc as uid 1000 on 6\.12: expected EPERM, got exit 0">/);
  });
});

describe('expected hook events', () => {
  const hook = (name: string, args: HookEvent['args'], ret?: number, tgid = 700): HookEvent => ({ kind: 'hook', time: 0, pid: tgid, tgid, comm: 'nc', hook: name, args, ...(ret !== undefined ? { ret } : {}) });
  const exec = hook('bprm_check_security', { bprm: { filename: '/tmp/x/nc', argc: 2 } }, -1);
  const open = hook('file_open', { file: { path: '/tmp/x/secret/key.txt', ino: 12 } }, 0);
  const seen = (events: HookEvent[], dropped = 0) => ({ events, dropped, notTraced: new Map([['inode_rename', 'disabled for BPF']]) });

  it('matches hook, dotted arguments (globs for strings with *) and the verdict', () => {
    assert.ok(eventMatches({ hook: 'bprm_check_security' }, exec));
    assert.ok(eventMatches({ hook: 'bprm_check_security', args: { 'bprm.filename': '/tmp/x/nc', 'bprm.argc': 2 }, ret: -1 }, exec));
    assert.ok(!eventMatches({ hook: 'bprm_check_security', ret: 0 }, exec));
    assert.ok(!eventMatches({ hook: 'bprm_check_security', args: { 'bprm.argc': '2' } }, exec), 'a number is not its string');
    assert.ok(!eventMatches({ hook: 'bprm_check_security', args: { 'bprm.missing': null } }, exec), 'an absent member is not null');
    assert.ok(!eventMatches({ hook: 'file_open' }, exec));
    assert.ok(eventMatches({ hook: 'file_open', args: { 'file.path': '*/secret/*.txt' } }, open));
    assert.ok(!eventMatches({ hook: 'file_open', args: { 'file.path': '*/public/*' } }, open));
    assert.ok(!eventMatches({ hook: 'file_open', args: { 'file.path': '/tmp/x/secret/key.tx' } }, open), 'without * a string matches whole');
    assert.ok(!eventMatches({ hook: 'file_open', args: { 'file.path': '/tmp/x/secret/key.tx?' } }, open), '? is no wildcard');
  });

  it('says which expected event was missing and what the step saw instead', () => {
    assert.equal(unmatchedEvents([{ hook: 'bprm_check_security', ret: -1 }], seen([open, exec])), undefined);
    assert.equal(
      unmatchedEvents([{ hook: 'bprm_check_security', args: { 'bprm.filename': '/tmp/x/socat' }, ret: -1 }], seen([open, exec])),
      'expected hook event bprm_check_security(bprm.filename="/tmp/x/socat") = -1, saw 1 bprm_check_security call(s): bprm_check_security(bprm.filename="/tmp/x/nc") = -1 [nc 700]',
    );
    assert.equal(unmatchedEvents([{ hook: 'socket_connect' }], seen([open])), 'expected hook event socket_connect(), saw no socket_connect call');
    assert.equal(unmatchedEvents([{ hook: 'inode_rename' }], seen([])), 'expected hook event inode_rename(), but inode_rename is not traced on this kernel: disabled for BPF');
    assert.equal(unmatchedEvents([{ hook: 'file_open' }], untraced('the tracer did not load on 6.1: boom')), 'expected hook event file_open(), but the tracer did not load on 6.1: boom');
  });

  it('lists what a failing step saw, with lost events counted and long lists cut', () => {
    assert.equal(listEvents(seen([exec])), '  hook events seen:\n    bprm_check_security(bprm={filename="/tmp/x/nc" argc=2}) = -1 [nc 700]');
    assert.equal(listEvents(seen([], 3)), '  hook events seen: none (3 events lost on the way)');
    const many = listEvents(seen(Array.from({ length: 15 }, () => open)));
    assert.equal(many.split('\n').length, 1 + 12 + 1);
    assert.match(many, /\.\.\. and 3 more$/);
    assert.equal(listEvents(untraced('no hooks to trace')), '  hook events: not traced (no hooks to trace)');
  });

  it('traces the hooks expectations name and the hooks the probes attach to', () => {
    const file = readScenarioFile(join(root, 'test', 'fixtures', 'scenarios', 'events.lsmtest.json'));
    assert.deepEqual(tracedHooks([file]), ['bprm_check_security', 'file_open']);
    const guard = readScenarioFile(join(root, 'examples', 'open-guard', 'open-guard.lsmtest.json'));
    assert.deepEqual(tracedHooks([guard]), ['file_open']);
  });
});

describe('probe state between scenarios', () => {
  it('empties hash maps, restores plain arrays and the .bss/.data globals, and leaves the rest alone', () => {
    assert.deepEqual(['hash', 'lru_hash', 'percpu_hash', 'lru_percpu_hash', 'array', 'percpu_array', 'ringbuf', 'prog_array'].map(resetKind), ['empty', 'empty', 'empty', 'empty', 'restore', undefined, undefined, undefined]);
    const g = (name: string, section: string) => ({ name, section, offset: 0, size: 4, type: { kind: 'int' as const, name: 'int', size: 4, signed: true, bool: false, char: false } });
    assert.deepEqual(writableGlobals([g('budget', '.data'), g('opens', '.bss'), g('limit', '.rodata'), g('tuned', '.data.tuning'), g('LINUX_KERNEL_VERSION', '.kconfig'), g('x', '.database')]).map((x) => x.name), ['budget', 'opens', 'tuned']);
  });
});
