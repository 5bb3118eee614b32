// BPF C text for a hook: the `BPF_PROG(...)` head with the kernel's exact argument list, a whole
// program stub, and a whole probe file. Used by completion (as LSP snippets) and by generators (plain).
import { Hook } from './catalog';

/** Escapes text for an LSP/TextMate snippet. */
export function snippetEscape(text: string): string {
  return text.replace(/[\\$}]/g, (c) => `\\${c}`);
}

/** Names BPF_PROG declares itself around the program's body: a hook parameter spelled so would clash. */
const MACRO_NAMES = new Set(['ctx']);

/** The name a program gives the hook's parameter `i`: the kernel's, unless it clashes with the macro's or is missing. */
export function progParamName(hook: Hook, i: number): string {
  const name = hook.params[i].name || `arg${i + 1}`;
  return MACRO_NAMES.has(name) ? `${name}_arg` : name;
}

/** `struct file *file` with the program's name for the parameter (see progParamName). */
function progParamDecl(hook: Hook, i: number): string {
  const p = hook.params[i];
  const name = progParamName(hook, i);
  if (!p.name) return p.type.endsWith('*') ? `${p.type}${name}` : `${p.type} ${name}`;
  if (name === p.name) return p.decl;
  // The declarator's last occurrence of the name is the parameter itself (`int (*ctx)(void *)` has one too).
  const at = p.decl.lastIndexOf(p.name);
  return `${p.decl.slice(0, at)}${name}${p.decl.slice(at + p.name.length)}`;
}

export type ProgMacro = 'BPF_PROG' | 'BPF_PROG2';

/**
 * BPF_PROG casts every argument from a u64 slot, which C refuses for a struct passed by value
 * (`kuid_t`, `sockptr_t`); BPF_PROG2 (libbpf 1.0+) takes `type, name` pairs and reassembles them.
 */
export function progMacro(hook: Hook): ProgMacro {
  return hook.params.some((p) => p.byValue) ? 'BPF_PROG2' : 'BPF_PROG';
}

/**
 * `file_open, struct file *file, int ret`: the macro's arguments (BPF_PROG2: `path_chown, const struct
 * path *, path, kuid_t, uid, ...`). For int hooks the last argument is the verdict of the BPF programs
 * that ran before on the same hook (the trampoline passes it along).
 */
export function bpfProgArgs(hook: Hook, progName = hook.name): string {
  const pairs = progMacro(hook) === 'BPF_PROG2';
  const parts = [progName];
  hook.params.forEach((p, i) => parts.push(pairs ? `${p.type}, ${progParamName(hook, i)}` : progParamDecl(hook, i)));
  if (hook.returnRule !== 'void') parts.push(pairs ? 'int, ret' : 'int ret');
  return parts.join(', ');
}

/** `int BPF_PROG(file_open, struct file *file, int ret)`. */
export function bpfProgHead(hook: Hook, progName = hook.name): string {
  return `int ${progMacro(hook)}(${bpfProgArgs(hook, progName)})`;
}

export interface StubOptions {
  /** Produce an LSP snippet with tab stops (the body and the verdict), else plain text. */
  readonly snippet?: boolean;
  /** One indentation step; the kernel's style is a tab. */
  readonly indent?: string;
}

/** The program after its SEC line: head, and a body that keeps earlier denials and allows by default. */
export function bpfProgStub(hook: Hook, opts: StubOptions = {}): string {
  const t = opts.indent ?? '\t';
  const esc = opts.snippet ? snippetEscape : (s: string): string => s;
  const head = esc(bpfProgHead(hook));
  const body = opts.snippet ? [`${t}\${1}`] : [];
  if (hook.returnRule === 'void') {
    return [head, '{', `${t}/* ${hook.name} returns void: a program here observes, it cannot deny. */`, ...body, `${t}return 0;`, '}'].join('\n');
  }
  const verdict = hook.returnRule === 'bool' ? '0 or 1 (a yes/no answer, not an errno)' : '0 allows, -errno (e.g. -EPERM) denies';
  const ret = opts.snippet ? '${2:0}' : '0';
  return [
    head,
    '{',
    `${t}/* ${esc(verdict)}; ret is the verdict of earlier programs on this hook. */`,
    `${t}if (ret != 0)`,
    `${t}${t}return ret;`,
    ...body,
    `${t}return ${ret};`,
    '}',
  ].join('\n');
}

/** `SEC("lsm/file_open")` or `SEC("lsm.s/file_open")`. */
export function secLine(hook: Hook, sleepable = false): string {
  return `SEC("${sleepable ? 'lsm.s' : 'lsm'}/${hook.name}")`;
}

/** A complete probe file for one hook: includes, license, and the program. */
export function probeFile(hook: Hook, opts: StubOptions = {}): string {
  return [
    '// SPDX-License-Identifier: GPL-2.0',
    '#include "vmlinux.h"',
    '#include <bpf/bpf_helpers.h>',
    '#include <bpf/bpf_tracing.h>',
    '#include <bpf/bpf_core_read.h>',
    '',
    '/* LSM programs must be GPL-compatible or the verifier rejects them. */',
    'char LICENSE[] SEC("license") = "GPL";',
    '',
    secLine(hook),
    bpfProgStub(hook, opts),
    '',
  ].join('\n');
}
