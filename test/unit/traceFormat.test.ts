// The CLI's terminal lines for trace events: exact text for each kind of event, and every string the kernel
// can hand us (control characters, DEL, C1, quotes, backslashes, non-ASCII) escaped as JSON escapes it plus
// DEL and C1, checked against that definition written out the slow way.
import * as assert from 'node:assert/strict';
import { formatEvent, formatValue, quote } from '../../extension/core/trace/format';
import type { TraceEvent } from '../../extension/shared/traceEvent';
import { syntheticSession } from '../fixtures/sessions/synthetic';

/** The escaping by its definition: JSON.stringify, then DEL and C1 as \u escapes. */
function reference(s: string): string {
  let out = '';
  for (const ch of JSON.stringify(s)) {
    const c = ch.codePointAt(0)!;
    out += c >= 0x7f && c <= 0x9f ? `\\u00${c.toString(16)}` : ch;
  }
  return out;
}

/** The argument text by its definition: fields in order, nested objects in braces, arrays in brackets. */
function referenceValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return reference(v);
  if (Array.isArray(v)) return `[${v.map(referenceValue).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as object).map(([k, x]) => `${k}=${referenceValue(x)}`).join(' ')}}`;
  return String(v);
}

describe('trace terminal format', () => {
  it('escapes every code point below U+0300 and a few beyond as JSON does, plus DEL and C1', () => {
    const strings: string[] = [];
    for (let c = 0; c < 0x300; c++) strings.push(String.fromCharCode(c), `a${String.fromCharCode(c)}b`);
    strings.push('', '/etc/hostname', 'x"y', 'back\\slash', '\u2028\u2029', 'é/ü', '\ud83d\ude00', 'lone \ud800 half', '\u001b[31mred\u001b[0m', '\u009b2J');
    for (const s of strings) assert.equal(quote(s), reference(s), `quote(${JSON.stringify(s)})`);
    assert.equal(quote('\u001b[2J'), '"\\u001b[2J"');
    assert.equal(quote('\u009b2J'), '"\\u009b2J"');
  });

  it('writes the exact line for each kind of event', () => {
    const base = { time: 2_000_123_456, pid: 4242, tgid: 4242, comm: 'ls' };
    const t0 = 1_000_000_000;
    const lines = (
      [
        { ...base, kind: 'syscall_enter', syscall: 'openat', nr: 257, args: [-100, 0x7ffd1234, 524288, 0, 65535, 65536] },
        { ...base, kind: 'hook', hook: 'file_open', args: { file: { path: '/etc/hostname', f_mode: 29, ino: 131 }, flags: [1, 'two'] }, ret: 0 },
        { ...base, kind: 'hook', hook: 'inode_permission', args: { mask: 36, name: null, ok: true } },
        { ...base, kind: 'hook', hook: 'bprm_check_security', args: {}, ret: -1 },
        { ...base, kind: 'syscall_exit', syscall: 'openat', nr: 257, ret: 3 },
        { ...base, kind: 'process', what: 'fork', child: 4243 },
        { ...base, kind: 'process', what: 'exec', filename: '/usr/bin/ls' },
        { ...base, kind: 'process', what: 'exit', exitCode: (2 << 8) | 9 },
        { ...base, pid: 7, comm: 'evil\u001b]0;x\u0007', kind: 'drops', where: 'kernel', count: 12 },
        { ...base, pid: 7, comm: 'evil\u001b]0;x\u0007', kind: 'process', what: 'exit' },
      ] as TraceEvent[]
    ).map((e) => formatEvent(e, t0));
    assert.deepEqual(lines, [
      '   1.000123   4242 ls              -> openat(-100, 0x7ffd1234, 0x80000, 0, 65535, 0x10000)',
      '   1.000123   4242 ls                  file_open(file={path="/etc/hostname" f_mode=29 ino=131} flags=[1, "two"])  = 0',
      '   1.000123   4242 ls                  inode_permission(mask=36 name=null ok=true)',
      '   1.000123   4242 ls                  bprm_check_security()  = -1 (denied)',
      '   1.000123   4242 ls              <- openat = 3',
      '   1.000123   4242 ls              ** fork: child 4243',
      '   1.000123   4242 ls              ** exec "/usr/bin/ls"',
      '   1.000123   4242 ls              ** exit status 2 signal 9',
      '   1.000123 !! 12 events dropped in the kernel',
      '   1.000123      7 evil\\u001b]0;x\\u0007 ** exit ',
    ]);
  });

  it('formats the arguments of a long synthetic session, hostile names included, as the reference does', () => {
    const sessions = [syntheticSession({ events: 3000, seed: 7 }), syntheticSession({ events: 3000, seed: 9, names: { comm: 'a\u009b"\\', file: '/tmp/\u001b[0m\u007f' } })];
    let hooks = 0;
    for (const s of sessions) {
      for (const e of s.next(3000)) {
        if (e.kind !== 'hook') continue;
        hooks++;
        const line = formatEvent(e, 0);
        const args = Object.entries(e.args).map(([k, v]) => `${k}=${referenceValue(v)}`).join(' ');
        assert.ok(line.includes(` ${e.hook}(${args})`), line);
        for (const v of Object.values(e.args)) assert.equal(formatValue(v), referenceValue(v));
        assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/, 'a raw control character reached the terminal line');
      }
    }
    assert.ok(hooks > 1000, `only ${hooks} hook events`);
  });
});
