// Compares the parameters a user wrote in BPF_PROG(...) with the kernel's, by type only (names are the
// user's to choose). Spellings are normalised so that `unsigned long` matches `long unsigned int`,
// `u32` matches `unsigned int` and a kernel typedef matches what it stands for.
import { cTypeExpanded } from '../shared/btf/cdecl';
import { Hook, HookCatalog } from '../shared/hooks/catalog';

const TYPE_WORDS = new Set([
  'const', 'volatile', 'restrict', 'struct', 'union', 'enum', 'unsigned', 'signed', 'int', 'long', 'short', 'char',
  'void', 'bool', '_Bool', 'float', 'double', '__int128',
]);

/** Fixed-width aliases from the kernel's and libbpf's headers, mapped to what they are on the BPF target. */
const ALIASES: Record<string, string[]> = {
  u8: ['unsigned', 'char'], __u8: ['unsigned', 'char'], s8: ['signed', 'char'], __s8: ['signed', 'char'],
  u16: ['unsigned', 'short'], __u16: ['unsigned', 'short'], s16: ['short'], __s16: ['short'],
  u32: ['unsigned', 'int'], __u32: ['unsigned', 'int'], s32: ['int'], __s32: ['int'],
  u64: ['unsigned', 'long', 'long'], __u64: ['unsigned', 'long', 'long'], s64: ['long', 'long'], __s64: ['long', 'long'],
  bool: ['_Bool'],
};

function tokens(text: string): string[] {
  return text.match(/[A-Za-z_]\w*|\d+|\S/g) ?? [];
}

/** Canonical integer words: any order of `unsigned long int` becomes `unsigned long`. */
function canonicalInts(toks: string[]): string[] {
  const out: string[] = [];
  let run: string[] = [];
  const flush = (): void => {
    if (!run.length) return;
    const unsigned = run.includes('unsigned');
    const signed = run.includes('signed');
    const longs = run.filter((t) => t === 'long').length;
    const base = run.includes('char') ? 'char' : run.includes('short') ? 'short' : longs ? 'long' : 'int';
    const words: string[] = [];
    if (unsigned) words.push('unsigned');
    else if (signed && base === 'char') words.push('signed');
    if (base === 'long') for (let i = 0; i < longs; i++) words.push('long');
    else words.push(base);
    out.push(words.join(' '));
    run = [];
  };
  for (const t of toks) {
    if (t === 'unsigned' || t === 'signed' || t === 'int' || t === 'long' || t === 'short' || t === 'char') run.push(t);
    else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out;
}

export function canonicalType(text: string): string {
  const toks = tokens(text).flatMap((t) => ALIASES[t] ?? [t]);
  return canonicalInts(toks).join(' ').replace(/\s*\*\s*/g, '*').replace(/\s*([()[\],])\s*/g, '$1');
}

/** The type part of a user's parameter declaration: `struct file *f` -> `struct file *`. */
export function userParamType(decl: string): string {
  const toks = tokens(decl);
  for (let i = toks.length - 1; i >= 0; i--) {
    const t = toks[i];
    if (!/^[A-Za-z_]/.test(t) || TYPE_WORDS.has(t) || ALIASES[t]) continue;
    const prev = toks[i - 1];
    if (prev === 'struct' || prev === 'union' || prev === 'enum') continue;
    // A bare typedef name with no declarator after it (`gfp_t`) is a type, not a parameter name.
    if (i === 0) break;
    return [...toks.slice(0, i), ...toks.slice(i + 1)].join(' ');
  }
  return toks.join(' ');
}

export type ParamProblem =
  | { kind: 'count'; expected: number; allowsRet: boolean; got: number }
  | { kind: 'type'; index: number; expected: string; got: string }
  | { kind: 'ret-type'; got: string }
  | { kind: 'by-value'; index: number; expected: string };

const RET_TYPES = new Set(['int', 'long', 'unsigned int', 'unsigned long', 'long long', 'unsigned long long']);

/** Whether a user's parameter declaration has the type of the hook's parameter (any equivalent spelling). */
export function sameParamType(catalog: HookCatalog, hook: Hook, index: number, decl: string): boolean {
  const got = canonicalType(userParamType(decl));
  const kernel = hook.params[index];
  return got === canonicalType(kernel.type) || got === canonicalType(cTypeExpanded(catalog.btf, kernel.typeId));
}

/**
 * Problems of a BPF_PROG parameter list (without the program name) against the hook. A prefix of the
 * hook's parameters is valid (the rest are simply not read); more than the hook passes (plus `int ret`
 * on a hook with a result) is not, and neither is a type that differs from the kernel's.
 */
export function checkParams(catalog: HookCatalog, hook: Hook, params: readonly string[], macro: 'BPF_PROG' | 'BPF_PROG2' = 'BPF_PROG'): ParamProblem[] {
  const n = hook.params.length;
  const allowsRet = hook.returnRule !== 'void';
  if (params.length > n + (allowsRet ? 1 : 0)) return [{ kind: 'count', expected: n, allowsRet, got: params.length }];
  const problems: ParamProblem[] = [];
  for (let i = 0; i < Math.min(n, params.length); i++) {
    if (!sameParamType(catalog, hook, i, params[i])) problems.push({ kind: 'type', index: i, expected: hook.params[i].decl, got: params[i] });
    else if (macro === 'BPF_PROG' && hook.params[i].byValue) problems.push({ kind: 'by-value', index: i, expected: hook.params[i].decl });
  }
  if (params.length === n + 1 && !RET_TYPES.has(canonicalType(userParamType(params[n])))) problems.push({ kind: 'ret-type', got: params[n] });
  return problems;
}

/** Whether the list fits the hook with no problem at all. */
export function paramsFit(catalog: HookCatalog, hook: Hook, params: readonly string[], macro: 'BPF_PROG' | 'BPF_PROG2' = 'BPF_PROG'): boolean {
  return checkParams(catalog, hook, params, macro).length === 0;
}

/** The parameter name a declaration declares (`struct file *file` -> `file`; BPF_PROG2's `kuid_t uid` -> `uid`). */
export function userParamName(decl: string): string | undefined {
  return /(\w+)\s*(?:\[[^\]]*\]\s*)*$/.exec(decl)?.[1];
}
