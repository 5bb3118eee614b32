// Verifier log reader and the rejection -> source line mapping, on real 6.1 logs captured in the VM from the
// deliberately broken probes in test/fixtures/probes (each marks its offending line with "EXPECT: <problem>").
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain, parseVerifierLog } from '../../extension/core/verifier/log';
import { objectLineInfo, programSections } from '../../extension/core/verifier/lineInfo';
import { diagnoseRejection, formatVerifierDiagnostic } from '../../extension/core/verifier/diagnose';
import { buildProbe } from '../../extension/core/probes/probe';

const root = join(__dirname, '..', '..', '..');
const probes = join(root, 'test', 'fixtures', 'probes');

function expected(name: string): { line: number; problem: string; text: string } {
  const lines = readFileSync(join(probes, `${name}.bpf.c`), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes('EXPECT: '));
  return { line: i + 1, problem: /EXPECT: ([a-z-]+)/.exec(lines[i])![1], text: lines[i].trim() };
}

const cases: Array<{ name: string; program: string; message: RegExp; insn: number }> = [
  { name: 'null_check', program: 'vfx_null_check', message: /^R0 invalid mem access 'map_value_or_null'$/, insn: 8 },
  { name: 'map_bounds', program: 'vfx_bounds', message: /^R6 unbounded memory access/, insn: 14 },
  { name: 'stack_align', program: 'vfx_misaligned', message: /^misaligned stack access off \(0x0; 0x0\)\+-13\+0 size 8$/, insn: 7 },
  { name: 'ctx_offset', program: 'vfx_ctx', message: /^variable ctx access var_off=\(0x0; 0x8\) disallowed$/, insn: 5 },
  { name: 'spin_loop', program: 'vfx_spin', message: /^infinite loop detected at insn 2$/, insn: 3 },
];

describe('verifier log', () => {
  for (const c of cases) {
    it(`${c.name}: message, instruction, source text, registers and cause`, () => {
      const log = readFileSync(join(probes, 'logs-6.1', `${c.name}.log`), 'utf8');
      const f = parseVerifierLog(log);
      assert.ok(f, 'a failure is found');
      const want = expected(c.name);
      assert.match(f.message, c.message);
      assert.equal(f.problem, want.problem);
      assert.equal(f.insn, c.insn);
      assert.equal(f.sourceText, want.text);
      assert.match(f.registers ?? '', /^R\d/);
      assert.ok(f.explanation.length > 40);
    });
  }

  it('keeps the register state of the failing path, not a source comment printed after a jump', () => {
    const f = parseVerifierLog(readFileSync(join(probes, 'logs-6.1', 'spin_loop.log'), 'utf8'))!;
    assert.match(f.registers!, /^R1=map_value\(.*R2_w=scalar/);
  });

  it('takes file:line straight from 6.4+ logs', () => {
    const log = [
      'func#0 @0',
      '0: R1=ctx() R10=fp0',
      '; *count += 1; @ probe.bpf.c:22',
      '8: (79) r1 = *(u64 *)(r0 +0)',
      "R0 invalid mem access 'map_value_or_null'",
      'processed 8 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1',
    ].join('\n');
    const f = parseVerifierLog(log)!;
    assert.equal(f.sourceFile, 'probe.bpf.c');
    assert.equal(f.sourceLine, 22);
    assert.equal(f.sourceText, '*count += 1;');
    assert.equal(f.problem, 'null-check');
    const d = diagnoseRejection(log, Buffer.alloc(0))!;
    assert.equal(d.line, 22);
  });

  it('keeps the last source line across the empty comments clang leaves for compiler-made instructions', () => {
    const f = parseVerifierLog(['; p = lookup(&m, &k);', '3: (bf) r2 = r10                      ; R2_w=fp0', '; ', "4: (79) r1 = *(u64 *)(r0 +0)", "R0 invalid mem access 'map_value_or_null'"].join('\n'))!;
    assert.equal(f.sourceText, 'p = lookup(&m, &k);');
    assert.equal(f.insn, 4);
  });

  it('finds no failure in an empty or success-only log', () => {
    assert.equal(parseVerifierLog(''), undefined);
    assert.equal(parseVerifierLog('processed 12 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1\n'), undefined);
  });

  it('explains the common causes named in the docs', () => {
    assert.equal(explain('back-edge from insn 12 to 4').problem, 'unbounded-loop');
    assert.equal(explain('BPF program is too large. Processed 1000001 insn').problem, 'too-complex');
    assert.equal(explain('dereference of modified ctx ptr R1 off=8 disallowed').problem, 'ctx-arithmetic');
    assert.equal(explain("R1 invalid mem access 'scalar'").problem, 'scalar-deref');
    assert.equal(explain('invalid access to map value, value_size=8 off=8 size=8').problem, 'out-of-bounds');
    assert.equal(explain('unknown func bpf_d_path#147').problem, 'helper-unavailable');
    assert.equal(explain('At program exit the register R0 has value (0x1; 0x0) should have been in (0x0; 0x0)').problem, 'return-value');
    assert.equal(explain('something new').problem, 'other');
  });
});

describe('verifier rejection -> source line (objects built on this machine)', function () {
  this.timeout(60_000);
  let cache: string;
  const objects = new Map<string, Buffer>();

  before(async () => {
    cache = mkdtempSync(join(tmpdir(), 'bpf-lsm-verifier-'));
    for (const c of cases) {
      const b = await buildProbe({ source: join(probes, `${c.name}.bpf.c`), btfPath: '/sys/kernel/btf/vmlinux', cacheDir: cache, output: join(cache, `${c.name}.bpf.o`) });
      assert.ok(b.ok, b.output);
      objects.set(c.name, readFileSync(b.objectPath));
    }
  });
  after(() => rmSync(cache, { recursive: true, force: true }));

  for (const c of cases) {
    it(`${c.name}: the diagnostic lands on the EXPECT line`, () => {
      const object = objects.get(c.name)!;
      const sections = programSections(object);
      assert.equal(sections.get(c.program), 'lsm/file_open');
      assert.ok(objectLineInfo(object).length > 3);
      const log = readFileSync(join(probes, 'logs-6.1', `${c.name}.log`), 'utf8');
      const d = diagnoseRejection(log, object, sections.get(c.program), c.program)!;
      assert.equal(d.line, expected(c.name).line);
      assert.equal(d.file, join(probes, `${c.name}.bpf.c`));
      assert.ok(d.column > 0);
      assert.match(formatVerifierDiagnostic(d, 'x.c'), new RegExp(`^${d.file}:${d.line}:${d.column}: error: verifier: `));
    });
  }
});
