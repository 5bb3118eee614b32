// The structure ARCHITECTURE.md promises, checked on the sources: files stay under 600 lines, only the
// targets/VM modules know kinds of targets, only core constructs the built-in VM, and target kernels' BTF
// is cached in one place.
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(__dirname, '..', '..', '..');

function sources(dir: string, test: (file: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (test(p)) out.push(relative(root, p));
    }
  };
  walk(join(root, dir));
  return out.sort();
}

const code = (f: string) => /\.(ts|mjs|cc|h|c|css)$/.test(f) && !f.endsWith('.d.ts.map');
const read = (f: string) => readFileSync(join(root, f), 'utf8');
/** Where kinds of targets and the built-in VM may be known by name. */
const TARGET_MODULES = /^extension\/core\/(targets|vm)\//;

describe('architecture', () => {
  const product = [...sources('extension', code), ...sources('media', code), ...sources('native', (f) => code(f) && !f.includes('/build/')), ...sources('bpf', code)];

  it('has no hand-written source file over 600 lines', () => {
    const long = product.map((f) => [f, read(f).split('\n').length - 1] as const).filter(([, n]) => n > 600);
    assert.deepEqual(long, [], 'split these along their seams');
  });

  it('branches on the kind of target only inside the targets and VM modules', () => {
    const branch = /\b(?:id|targetId|kind|target\.id|target\.kind|targets\.id|report\.target)\s*[!=]==\s*'(?:vm|local|ssh)'|'(?:vm|local|ssh)'\s*[!=]==|startsWith\('(?:ssh:|vm)/;
    const found = product
      .filter((f) => f.endsWith('.ts') && !TARGET_MODULES.test(f))
      .flatMap((f) => read(f).split('\n').map((line, i) => [`${f}:${i + 1}`, line] as const))
      .filter(([, line]) => branch.test(line));
    assert.deepEqual(found, [], 'ask the Target (core/target.ts) instead');
  });

  it('constructs the built-in VM only inside core', () => {
    const outside = product.filter((f) => f.endsWith('.ts') && !f.startsWith('extension/core/') && /new BuiltinVm\(|BuiltinVm\.(?:of|all)\(/.test(read(f)));
    assert.deepEqual(outside, []);
  });

  it('uses every context key it sets in a when clause of the manifest', () => {
    const set = new Set(product.filter((f) => f.endsWith('.ts')).flatMap((f) => [...read(f).matchAll(/'setContext',\s*'(bpfLsm\.[A-Za-z]+)'/g)].map((m) => m[1])));
    const manifest = read('package.json');
    const whens = [...manifest.matchAll(/"(?:when|enablement)":\s*"([^"]*)"/g)].map((m) => m[1]).join('\n');
    assert.ok(set.size >= 2, `found the keys set: ${[...set].join(', ')}`);
    assert.deepEqual([...set].filter((key) => !new RegExp(`\\b${key.replace('.', '\\.')}\\b`).test(whens)), [], 'set but never read');
  });

  it('keeps target kernels\' BTF in one identity-keyed cache', () => {
    // Whoever writes a BTF file names it <digest>.btf; only the cache does that.
    const writers = product.filter((f) => f.endsWith('.ts') && /\.btf`/.test(read(f)));
    assert.deepEqual(writers, ['extension/core/targets/btfCache.ts']);
  });
});
