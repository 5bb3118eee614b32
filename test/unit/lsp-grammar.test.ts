// The TextMate injection grammar: it is contributed for source.c, and its rules pick out the parts of
// BPF C they are for. The patterns use only syntax that Oniguruma and JavaScript share, so they are
// checked here with JavaScript regular expressions.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');

interface Rule {
  match: string;
  name?: string;
  captures?: Record<string, { name: string }>;
}

const grammar = JSON.parse(readFileSync(join(root, 'syntaxes', 'bpf-c.injection.tmLanguage.json'), 'utf8')) as {
  scopeName: string;
  injectionSelector: string;
  repository: Record<string, Rule>;
};

/** Scope name -> matched text, for the first match of a rule in `line`. */
function scopes(rule: string, line: string): Record<string, string> {
  const r = grammar.repository[rule];
  const m = new RegExp(r.match).exec(line);
  if (!m) return {};
  const out: Record<string, string> = {};
  if (r.name) out[r.name] = m[0];
  for (const [i, c] of Object.entries(r.captures ?? {})) if (m[Number(i)] !== undefined) out[c.name] = m[Number(i)];
  return out;
}

describe('lsp grammar: BPF C injection', () => {
  it('is contributed to source.c under its scope name', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const g = pkg.contributes.grammars.find((x: { scopeName: string }) => x.scopeName === grammar.scopeName);
    assert.ok(g, 'package.json contributes the grammar');
    assert.deepEqual(g.injectTo, ['source.c']);
    assert.equal(g.path, './syntaxes/bpf-c.injection.tmLanguage.json');
    assert.match(grammar.injectionSelector, /source\.c/);
  });

  it('marks the hook name and program type of SEC("lsm/...") and SEC("lsm.s/...")', () => {
    const s = scopes('section-lsm', 'SEC("lsm.s/bprm_check_security")');
    assert.equal(s['string.quoted.double.c storage.type.program.lsm.bpf'], 'lsm.s');
    assert.equal(s['string.quoted.double.c entity.name.function.hook.lsm.bpf'], 'bprm_check_security');
    assert.equal(scopes('section-lsm', 'SEC ( "lsm/file_open" )')['keyword.other.section.bpf'], 'SEC');
    assert.deepEqual(scopes('section-lsm', 'SEC("tp/sched/sched_switch")'), {});
  });

  it('marks map sections, BPF_PROG and its program name, map fields, map types and helpers', () => {
    assert.equal(scopes('section-maps', 'SEC(".maps")')['string.quoted.double.c storage.type.section.data.bpf'], '".maps"');
    const prog = scopes('prog-macros', 'int BPF_PROG(restrict_exec, struct linux_binprm *bprm, int ret)');
    assert.equal(prog['entity.name.function.preprocessor.bpf-prog.bpf'], 'BPF_PROG');
    assert.equal(prog['entity.name.function.bpf'], 'restrict_exec');
    assert.equal(scopes('map-fields', '__uint(type, BPF_MAP_TYPE_HASH);')['variable.other.member.map-attribute.bpf'], 'type');
    assert.equal(scopes('map-types', '__uint(type, BPF_MAP_TYPE_RINGBUF);')['support.constant.bpf'], 'BPF_MAP_TYPE_RINGBUF');
    assert.equal(scopes('helpers', 'bpf_d_path(&file->f_path, buf, sizeof(buf));')['support.function.bpf-helper.bpf'], 'bpf_d_path');
    assert.deepEqual(scopes('helpers', 'int bpf_value = 1;'), {}, 'only calls, not identifiers that start with bpf_');
  });
});
