// Hook documentation, extracted from kernel sources at run time (never copied into this repository).
// Two formats exist:
//   - kernels up to 6.3: one big comment in include/linux/lsm_hooks.h with an `@hook:` entry per hook,
//     its text indented by a tab under the entry;
//   - 6.4 and later: a kerneldoc comment (`/** security_hook() - summary ... */`) before each
//     security_<hook>() in security/security.c.
// The text found is normalized (comment stars and indentation removed, paragraphs kept).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type DocFormat = 'lsm_hooks.h' | 'security.c';

export interface DocSource {
  readonly path: string;
  readonly format: DocFormat;
}

/** Hook docs from the `@hook:` entries of an old-style include/linux/lsm_hooks.h. */
export function docsFromLsmHooksHeader(text: string): Map<string, string> {
  const docs = new Map<string, string>();
  const lines = text.split('\n');
  let current: string[] | undefined;
  let names: string[] = [];
  const flush = (): void => {
    if (current && names.length) {
      const body = tidy(current);
      if (body) for (const n of names) if (!docs.has(n)) docs.set(n, body);
    }
    current = undefined;
    names = [];
  };
  for (const line of lines) {
    // An entry starts at the comment's first indentation level: ` * @hook_name:` (parameters are tab-indented).
    // `@mmap_file :` (with a space) occurs too.
    const entry = /^\s?\*\s@(\w+)\s?:\s*(.*)$/.exec(line);
    if (entry && !/^\s?\*\s*\t/.test(line)) {
      // Consecutive entries with no text share the following text (`@a:` then `@b:` then the body).
      if (current && current.join('').trim() === '') names.push(entry[1]);
      else {
        flush();
        names = [entry[1]];
        current = [];
      }
      if (entry[2]) current!.push(entry[2]);
      continue;
    }
    if (!current) continue;
    if (/^\s*\*\/\s*$/.test(line)) {
      flush();
      continue;
    }
    const body = /^\s?\*(.*)$/.exec(line);
    if (!body) {
      flush();
      continue;
    }
    const content = body[1];
    // A line back at the first level that is not an entry (a section heading) ends the entry; blank
    // comment lines inside an entry are paragraph breaks.
    if (content.trim() === '') current.push('');
    else if (/^\s?\S/.test(content) && !/^\s?\t/.test(content)) flush();
    else current.push(content.replace(/^\s?\t/, '').trimEnd());
  }
  flush();
  return docs;
}

/** Hook docs from the kerneldoc comments of security/security.c (6.4+). */
export function docsFromSecurityC(text: string, knownHooks?: ReadonlySet<string>): Map<string, string> {
  const docs = new Map<string, string>();
  const re = /\/\*\*\s*\n([\s\S]*?)\*\/\s*\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const lines = m[1].split('\n').map((l) => l.replace(/^\s*\* ?/, '').trimEnd());
    // The kernel writes both `security_x() - summary` and `security_x - summary`.
    const head = /^(security_\w+)(?:\(\))?\s*-\s*(.*)$/.exec(lines[0] ?? '');
    if (!head) continue;
    const after = text.slice(re.lastIndex, re.lastIndex + 4000).split('/**')[0];
    const hook = hookForSecurityFunction(head[1], calledHooks(after), knownHooks);
    if (!hook) continue;
    const params: string[] = [];
    const rest: string[] = [];
    let i = 1;
    for (; i < lines.length && /^@\w+:/.test(lines[i]); i++) params.push(lines[i]);
    for (; i < lines.length; i++) rest.push(lines[i]);
    const parts = [head[2].trim()];
    const body = tidy(rest);
    if (body) parts.push(body);
    if (params.length) parts.push(params.map((p) => p.replace(/^@(\w+):\s*/, '@$1: ')).join('\n'));
    if (!docs.has(hook)) docs.set(hook, parts.join('\n\n'));
  }
  return docs;
}

/** Hooks a wrapper's body calls: call_int_hook(x, ...), call_void_hook(x, ...), lsm_for_each_hook(p, x). */
function calledHooks(body: string): string[] {
  const re = /\b(?:call_int_hook|call_void_hook)\(\s*(\w+)|\blsm_for_each_hook\(\s*\w+\s*,\s*(\w+)|security_hook_heads\.(\w+)/g;
  const out: string[] = [];
  for (let m = re.exec(body); m; m = re.exec(body)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/**
 * security_<x>() documents hook <x> when <x> is a hook. Otherwise the hook its body calls: some wrappers
 * are named differently (security_bprm_check() calls bprm_check_security, security_settime64() calls
 * settime). A body may call more than one hook (security_inode_setxattr() asks inode_xattr_skipcap
 * first), so the called hook sharing the longest prefix with the wrapper's name wins.
 */
function hookForSecurityFunction(fn: string, called: string[], known?: ReadonlySet<string>): string | undefined {
  const base = fn.slice('security_'.length);
  const isHook = (n: string): boolean => (known ? known.has(n) : true);
  if (known ? known.has(base) : called.includes(base) || called.length === 0) return base;
  const candidates = called.filter(isHook);
  if (candidates.length === 0) {
    const noDigits = base.replace(/\d+$/, '');
    return known?.has(noDigits) ? noDigits : undefined;
  }
  const shared = (a: string): number => {
    let i = 0;
    while (i < a.length && i < base.length && a[i] === base[i]) i++;
    return i;
  };
  return candidates.reduce((best, c) => (shared(c) > shared(best) ? c : best));
}

function tidy(lines: string[]): string {
  const out = lines.join('\n').replace(/\n{3,}/g, '\n\n').trim();
  return out;
}

/** Docs from one source file, by its format. */
export function docsFromSource(src: DocSource, knownHooks?: ReadonlySet<string>): Map<string, string> {
  const text = readFileSync(src.path, 'utf8');
  return src.format === 'lsm_hooks.h' ? docsFromLsmHooksHeader(text) : docsFromSecurityC(text, knownHooks);
}

/** The documentation sources inside one kernel tree or headers tree, newest format first. */
export function docSourcesIn(root: string): DocSource[] {
  const found: DocSource[] = [];
  const sec = join(root, 'security', 'security.c');
  if (existsSync(sec)) found.push({ path: sec, format: 'security.c' });
  const hdr = join(root, 'include', 'linux', 'lsm_hooks.h');
  // From 6.4 lsm_hooks.h still exists but no longer carries the @hook entries; reading it is harmless.
  if (existsSync(hdr)) found.push({ path: hdr, format: 'lsm_hooks.h' });
  return found;
}

/**
 * Candidate kernel trees, best first: the configured path, the running kernel's build tree, then
 * /usr/src/linux-headers-* and /usr/src/linux-* (Debian's linux-headers-*-common ships lsm_hooks.h).
 */
export function candidateKernelTrees(configured?: string, release?: string): string[] {
  const roots: string[] = [];
  if (configured) roots.push(configured);
  if (release) roots.push(`/lib/modules/${release}/build`, `/lib/modules/${release}/source`);
  try {
    const entries = readdirSync('/usr/src').filter((n) => n.startsWith('linux'));
    // Prefer trees whose name shares the release's version, then "common" header packages (they hold include/).
    const ver = release?.match(/^\d+\.\d+/)?.[0];
    entries.sort((a, b) => score(b) - score(a) || b.localeCompare(a, undefined, { numeric: true }));
    function score(n: string): number {
      return (ver && n.includes(ver) ? 2 : 0) + (n.endsWith('-common') ? 1 : 0);
    }
    for (const n of entries) roots.push(join('/usr/src', n));
  } catch {
    // No /usr/src: only the configured tree is searched.
  }
  return roots;
}

export interface FoundDocs {
  readonly docs: Map<string, string>;
  readonly sources: DocSource[];
}

/** Collects docs from the first tree that yields any; later sources fill gaps only. */
export function findHookDocs(configured: string | undefined, release: string | undefined, knownHooks?: ReadonlySet<string>): FoundDocs {
  const docs = new Map<string, string>();
  const used: DocSource[] = [];
  for (const root of candidateKernelTrees(configured, release)) {
    for (const src of docSourcesIn(root)) {
      let found: Map<string, string>;
      try {
        found = docsFromSource(src, knownHooks);
      } catch {
        continue;
      }
      if (found.size === 0) continue;
      used.push(src);
      for (const [k, v] of found) if (!docs.has(k)) docs.set(k, v);
    }
    if (docs.size > 0) break;
  }
  return { docs, sources: used };
}

/**
 * Docs extracted at package time (`bpf-lsm hooks --export-docs dist/hook-docs.json --kernel-source DIR`)
 * and shipped beside the server: the fallback when neither the target nor this machine has sources.
 */
export interface PackagedDocs {
  readonly generatedFrom: string;
  readonly docs: Record<string, string>;
}

export function writePackagedDocs(path: string, found: FoundDocs): PackagedDocs {
  const packaged: PackagedDocs = { generatedFrom: found.sources.map((s) => `${s.format} (${s.path})`).join(', '), docs: Object.fromEntries([...found.docs].sort()) };
  writeFileSync(path, `${JSON.stringify(packaged, null, 1)}\n`);
  return packaged;
}

export function readPackagedDocs(path: string): Map<string, string> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as PackagedDocs;
    return new Map(Object.entries(parsed.docs ?? {}));
  } catch {
    // A damaged docs file only costs documentation; the catalog itself does not depend on it.
    return undefined;
  }
}
