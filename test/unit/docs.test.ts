// Hook documentation extraction from both kernel source formats, on fixture excerpts written for
// these tests in the kernel's layouts, plus the real lsm_hooks.h of Debian's 6.1 headers package.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogFromFile } from '../../extension/shared/hooks/catalog';
import { docsFromLsmHooksHeader, docsFromSecurityC, docSourcesIn, findHookDocs } from '../../extension/shared/hooks/docs';
import { debian612SourceTree, debian612Vmlinux, debian61HeadersTree, debian61Vmlinux } from '../fixtures/kernels';

const fixtures = join(__dirname, '..', '..', '..', 'test', 'fixtures');
const oldTree = join(fixtures, 'kernel-src-6.1');
const newTree = join(fixtures, 'kernel-src-6.4');

describe('docs: include/linux/lsm_hooks.h @hook entries (kernels up to 6.3)', () => {
  const docs = docsFromLsmHooksHeader(readFileSync(join(oldTree, 'include', 'linux', 'lsm_hooks.h'), 'utf8'));

  it('extracts one entry per @hook with its tab-indented text, without comment stars', () => {
    assert.equal(
      docs.get('bprm_check_security'),
      'Fixture text: decides whether the binary in @bprm may be run; it can\nbe reached more than once for one execve.\n@bprm describes the binary being loaded.\nReturn 0 to let the exec continue.',
    );
    assert.match(docs.get('file_open')!, /^Fixture text: records state when a file is opened/);
  });

  it('keeps paragraphs inside an entry and stops at section headings', () => {
    const text = docs.get('bprm_committed_creds')!;
    assert.match(text, /in place\.\n\nA second paragraph/);
    assert.doesNotMatch(text, /Security hooks for file operations/);
  });

  it('gives entries listed back to back the text that follows them', () => {
    assert.equal(docs.get('task_alloc'), docs.get('task_free'));
    assert.match(docs.get('task_free')!, /shared by two entries/);
  });

  it('does not mistake parameter lines (@bprm, @file) for hooks', () => {
    assert.deepEqual([...docs.keys()].sort(), ['bprm_check_security', 'bprm_committed_creds', 'file_open', 'mmap_file', 'task_alloc', 'task_free']);
    assert.equal(docs.get('mmap_file'), 'Fixture text: an entry written with a space before its colon.');
  });
});

describe('docs: security/security.c kerneldoc (6.4 and later)', () => {
  const text = readFileSync(join(newTree, 'security', 'security.c'), 'utf8');
  const known = new Set(['bprm_check_security', 'file_open', 'settime', 'inode_setxattr', 'inode_xattr_skipcap', 'path_link']);
  const docs = docsFromSecurityC(text, known);

  it('maps each wrapper to the hook its body calls, not the wrapper name', () => {
    assert.ok(docs.has('bprm_check_security'));
    assert.ok(!docs.has('bprm_check'));
    assert.match(docs.get('bprm_check_security')!, /^Fixture summary of the exec check\n\nFixture text: the kerneldoc/);
  });

  it('keeps summary, description, Return: and parameters', () => {
    const d = docs.get('file_open')!;
    assert.match(d, /^Fixture summary of the open check/);
    assert.match(d, /Return: Returns 0 to allow the open\./);
    assert.match(d, /@file: the file being opened/);
  });

  it('handles wrappers with width suffixes and ignores functions that are no hook', () => {
    assert.match(docs.get('settime')!, /width suffix/);
    assert.deepEqual([...docs.keys()].sort(), ['bprm_check_security', 'file_open', 'inode_setxattr', 'path_link', 'settime']);
  });

  it('gives a wrapper that calls several hooks to the hook it is named after', () => {
    assert.match(docs.get('inode_setxattr')!, /^Fixture summary of the xattr check/);
    assert.ok(!docs.has('inode_xattr_skipcap'));
  });

  it('reads kerneldoc heads written without parentheses', () => {
    assert.match(docs.get('path_link')!, /^Fixture summary written without parentheses/);
  });
});

describe('docs: finding kernel sources', function () {
  this.timeout(300_000);

  it('lists the sources of a tree by format', () => {
    assert.deepEqual(docSourcesIn(newTree).map((s) => s.format), ['security.c']);
    assert.deepEqual(docSourcesIn(oldTree).map((s) => s.format), ['lsm_hooks.h']);
  });

  it('prefers the configured tree', () => {
    const found = findHookDocs(newTree, undefined, new Set(['file_open']));
    assert.equal(found.sources[0].path, join(newTree, 'security', 'security.c'));
    assert.match(found.docs.get('file_open')!, /Fixture summary/);
  });

  it("documents nearly every 6.12 hook from Debian's linux-source-6.12 (security.c kerneldoc)", () => {
    const catalog = catalogFromFile(debian612Vmlinux());
    const found = findHookDocs(debian612SourceTree(), undefined, new Set(catalog.hooks.map((h) => h.name)));
    assert.equal(found.sources[0].format, 'security.c');
    const documented = catalog.attachDocs(found.docs);
    assert.ok(documented >= catalog.hooks.length * 0.95, `${documented} of ${catalog.hooks.length} hooks documented`);
    assert.match(catalog.get('bprm_check_security')!.doc!, /binary handler/);
    assert.match(catalog.get('inode_setxattr')!.doc!, /xattr/);
  });

  it("documents nearly every 6.1 hook from Debian's linux-headers common package", () => {
    const catalog = catalogFromFile(debian61Vmlinux());
    const found = findHookDocs(debian61HeadersTree(), undefined, new Set(catalog.hooks.map((h) => h.name)));
    const documented = catalog.attachDocs(found.docs);
    assert.ok(documented >= catalog.hooks.length * 0.95, `${documented} of ${catalog.hooks.length} hooks documented`);
    assert.match(catalog.get('file_open')!.doc!, /file_permission/);
  });
});
