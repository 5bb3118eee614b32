// What a program's `return` statements give the kernel, against the hook's rule: an int hook takes 0
// or a negative errno in [-MAX_ERRNO, 0], a yes/no hook 0 or 1, and a void hook ignores the value.
// Only what can be read without a compiler is judged: integer literals (also negated errno names and
// casts), and returning one of the program's own arguments.
import { Hook, HookCatalog } from '../shared/hooks/catalog';
import { MAX_ERRNO } from '../shared/hooks/rules';
import { cTypeExpanded } from '../shared/btf/cdecl';
import { canonicalType, userParamName } from './paramCheck';
import { ProgRef, ReturnStmt } from './probeDocument';

/** errno numbers of the names programs return (include/uapi/asm-generic/errno-base.h and errno.h, x86). */
const ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENXIO: 6, E2BIG: 7, ENOEXEC: 8, EBADF: 9, ECHILD: 10,
  EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14, EBUSY: 16, EEXIST: 17, EXDEV: 18, ENODEV: 19, ENOTDIR: 20,
  EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24, ENOTTY: 25, ETXTBSY: 26, EFBIG: 27, ENOSPC: 28, ESPIPE: 29,
  EROFS: 30, EMLINK: 31, EPIPE: 32, ERANGE: 34, ENOSYS: 38, ENODATA: 61, EPROTO: 71, EOPNOTSUPP: 95,
  EPROTONOSUPPORT: 93, EAFNOSUPPORT: 97, EADDRINUSE: 98, ECONNREFUSED: 111, ECANCELED: 125, EKEYREJECTED: 129,
  ENOTSUPP: 524,
};

/** The value of a constant return expression, or undefined when it is not one this reading understands. */
export function literalValue(expr: string): number | undefined {
  let e = expr.trim();
  for (;;) {
    const cast = /^\(\s*(?:unsigned\s+|signed\s+)?(?:int|long|long\s+long|__s32|__u32|s32|u32|s64|u64|__s64|__u64|bool|_Bool)\s*\)\s*/.exec(e);
    if (cast) e = e.slice(cast[0].length);
    else if (/^\(.*\)$/.test(e) && balanced(e.slice(1, -1))) e = e.slice(1, -1).trim();
    else break;
  }
  const neg = /^-\s*/.exec(e);
  if (neg) {
    const v = literalValue(e.slice(neg[0].length));
    return v === undefined ? undefined : -v;
  }
  if (/^(?:0x[0-9a-f]+|\d+)[ul]*$/i.test(e)) return Number.parseInt(e.replace(/[ul]+$/i, ''), /^0x/i.test(e) ? 16 : 10);
  if (e === 'true') return 1;
  if (e === 'false') return 0;
  return ERRNO[e];
}

function balanced(text: string): boolean {
  let depth = 0;
  for (const c of text) {
    if (c === '(') depth++;
    else if (c === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

export type ReturnProblem =
  | { kind: 'range'; at: ReturnStmt; value: number; allowed: string }
  | { kind: 'void'; at: ReturnStmt; value: number }
  | { kind: 'arg'; at: ReturnStmt; index: number; decl: string };

/** The range a hook's result must lie in, as the messages spell it. */
export function allowedRange(hook: Hook): string {
  return hook.returnRule === 'bool' ? '0 or 1' : `0 or a negative errno in [-${MAX_ERRNO}, 0]`;
}

export function checkReturns(catalog: HookCatalog, hook: Hook, prog: ProgRef, returns: readonly ReturnStmt[]): ReturnProblem[] {
  const out: ReturnProblem[] = [];
  const names = prog.params.map((p) => userParamName(p.text));
  for (const r of returns) {
    const value = literalValue(r.expr);
    if (value !== undefined) {
      if (hook.returnRule === 'void') {
        if (value !== 0) out.push({ kind: 'void', at: r, value });
      } else if (hook.returnRule === 'bool' ? value !== 0 && value !== 1 : value > 0 || value < -MAX_ERRNO) {
        out.push({ kind: 'range', at: r, value, allowed: allowedRange(hook) });
      }
      continue;
    }
    // `return ret;` where `ret` is bound to one of the hook's arguments (a shorter list than the hook's), not to its result.
    const i = /^\w+$/.test(r.expr) ? names.indexOf(r.expr) : -1;
    if (i < 0 || i >= hook.params.length || hook.returnRule === 'void') continue;
    const type = canonicalType(cTypeExpanded(catalog.btf, hook.params[i].typeId));
    if (type !== canonicalType(hook.returns)) out.push({ kind: 'arg', at: r, index: i, decl: hook.params[i].decl });
  }
  return out;
}
