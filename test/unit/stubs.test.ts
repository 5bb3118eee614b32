// Every stub the server inserts compiles: for each hook of the 6.1 (Debian) and 6.18 (this host) BTF,
// its SEC line and program stub, and the program the "regenerate the parameter list" quick fix writes
// over a wrong list, built with clang against bpftool's vmlinux.h of that kernel (the product's own
// build path). Also the field fixtures, which the diagnostics tests call valid.
import * as assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { buildProbe } from '../../extension/core/probes/probe';
import { diagnose } from '../../extension/server/diagnostics';
import { parseProbeDocument } from '../../extension/server/probeDocument';
import { catalogFromFile, Hook, HookCatalog } from '../../extension/shared/hooks/catalog';
import { SLEEPABLE_ONLY_HELPERS } from '../../extension/shared/hooks/rules';
import { bpfProgStub, secLine } from '../../extension/shared/hooks/stub';
import { cacheDir, debian61Vmlinux, HOST_BTF } from '../fixtures/kernels';

const fixtures = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'field');
const PRELUDE = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n\nchar LICENSE[] SEC("license") = "GPL";\n\n';

interface Piece {
  readonly hook: string;
  readonly text: string;
}

/** Builds one file of many pieces; returns the hooks whose piece has a clang error (by line), with the first message each. */
async function compileFailures(name: string, btfPath: string, pieces: readonly Piece[]): Promise<Map<string, string>> {
  const dir = join(cacheDir(), 'stub-compile');
  mkdirSync(dir, { recursive: true });
  const source = join(dir, `${name}.bpf.c`);
  const starts: Array<{ line: number; hook: string }> = [];
  let text = PRELUDE;
  for (const p of pieces) {
    starts.push({ line: text.split('\n').length, hook: p.hook });
    text += `${p.text}\n\n`;
  }
  writeFileSync(source, text);
  const build = await buildProbe({ source, btfPath, cacheDir: join(cacheDir(), 'vmlinux-h') });
  const failures = new Map<string, string>();
  for (const d of build.diagnostics) {
    if (d.severity !== 'error') continue;
    const owner = [...starts].reverse().find((s) => s.line <= d.line);
    const hook = owner?.hook ?? '(prelude)';
    if (!failures.has(hook)) failures.set(hook, `${d.line}: ${d.message}`);
  }
  if (!build.ok && failures.size === 0) failures.set('(build)', build.output.slice(0, 2000));
  return failures;
}

/** A head with too many arguments of wrong types, which the server flags with the regenerate fix. */
function wrongHead(h: Hook): string {
  const args = Array.from({ length: h.params.length + 2 }, (_, i) => `void *x${i}`).join(', ');
  return `${secLine(h)}\nint BPF_PROG(${h.name}_fixed, ${args})\n{\n\treturn 0;\n}\n`;
}

/** Applies the first regenerate fix the server offers for the program. */
function regenerated(catalog: HookCatalog, h: Hook): string {
  const text = wrongHead(h);
  const doc = TextDocument.create('file:///fix.bpf.c', 'c', 1, text);
  const diags = diagnose(catalog, doc, parseProbeDocument(text, Object.keys(SLEEPABLE_ONLY_HELPERS)));
  const fix = diags.flatMap((d) => (d.data as { fixes?: Array<{ title: string; edits: Array<{ start: number; end: number; newText: string }> }> } | undefined)?.fixes ?? [])
    .find((f) => f.title.startsWith('Regenerate'));
  assert.ok(fix, `no regenerate fix for ${h.name}: ${diags.map((d) => d.message).join(' | ')}`);
  let out = text;
  for (const e of [...fix.edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.newText + out.slice(e.end);
  return out;
}

const kernels: Array<{ label: string; btf: () => string; hooks: number }> = [
  { label: 'Debian 6.1', btf: debian61Vmlinux, hooks: 239 },
  { label: 'this host (6.18)', btf: () => HOST_BTF, hooks: 271 },
];

describe('stubs: every hook compiles with clang against vmlinux.h', function () {
  this.timeout(600_000);
  for (const k of kernels) {
    describe(k.label, () => {
      let catalog: HookCatalog;
      before(() => {
        catalog = catalogFromFile(k.btf());
      });

      it(`the stub of every hook (${k.hooks} hooks) compiles: 0 failures`, async () => {
        assert.equal(catalog.hooks.length, k.hooks, 'hooks in the catalog');
        const pieces = catalog.hooks.map((h) => ({ hook: h.name, text: `${secLine(h)}\n${bpfProgStub(h)}` }));
        const failures = await compileFailures(`stubs-${k.label.replace(/\W+/g, '_')}`, k.btf(), pieces);
        console.log(`      ${k.label}: ${failures.size} of ${pieces.length} stubs fail to compile`);
        assert.deepEqual([...failures], []);
      });

      it('the program the regenerate quick fix writes compiles for every hook: 0 failures', async () => {
        const pieces = catalog.hooks.map((h) => ({ hook: h.name, text: regenerated(catalog, h) }));
        const failures = await compileFailures(`regenerated-${k.label.replace(/\W+/g, '_')}`, k.btf(), pieces);
        console.log(`      ${k.label}: ${failures.size} of ${pieces.length} regenerated programs fail to compile`);
        assert.deepEqual([...failures], []);
      });

      it('the field fixtures the diagnostics tests call valid compile', async () => {
        for (const f of readdirSync(fixtures).filter((n) => n.endsWith('.bpf.c'))) {
          const text = readFileSync(join(fixtures, f), 'utf8');
          const failures = await compileFailures(`field-${f.replace('.bpf.c', '')}-${k.label.replace(/\W+/g, '_')}`, k.btf(), [{ hook: f, text: text.replace(/^#include "vmlinux.h"\n/m, '').replace(/^char LICENSE.*\n/m, '').replace(/^#include <bpf\/bpf_(helpers|tracing)\.h>\n/gm, '') }]);
          assert.deepEqual([...failures], [], f);
        }
      });
    });
  }
});
