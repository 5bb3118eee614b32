// BPF C text for a hook: the `BPF_PROG(...)` head with the kernel's exact argument list, a whole
// program stub, and a whole probe file. Used by completion (as LSP snippets) and by generators (plain).
import { Hook } from './catalog';

/** Escapes text for an LSP/TextMate snippet. */
export function snippetEscape(text: string): string {
  return text.replace(/[\\$}]/g, (c) => `\\${c}`);
}

/**
 * `file_open, struct file *file, int ret`: BPF_PROG's arguments. For int hooks the last argument is the
 * verdict of the BPF programs that ran before on the same hook (the trampoline passes it along).
 */
export function bpfProgArgs(hook: Hook): string {
  const parts = [hook.name, ...hook.params.map((p) => p.decl)];
  if (hook.returnRule !== 'void') parts.push('int ret');
  return parts.join(', ');
}

/** `int BPF_PROG(file_open, struct file *file, int ret)`. */
export function bpfProgHead(hook: Hook): string {
  return `int BPF_PROG(${bpfProgArgs(hook)})`;
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
