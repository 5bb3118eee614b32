// How the tracing panel writes values: return values with their errno name, times, and a one-line summary
// of a hook's decoded arguments.
import type { TraceValue } from '../traceEvent';

const ERRNO: Readonly<Record<number, string>> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
  14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC',
  30: 'EROFS', 38: 'ENOSYS', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 111: 'ECONNREFUSED', 125: 'ECANCELED',
};

/** `EACCES` for -13. */
export function errnoName(ret: number): string | undefined {
  return ret < 0 ? ERRNO[-ret] : undefined;
}

/** `-13 EACCES`, `0`, `3`. */
export function formatRet(ret: number): string {
  const name = errnoName(ret);
  return name ? `${ret} ${name}` : String(ret);
}

export function formatSeconds(s: number): string {
  return Number.isFinite(s) ? s.toFixed(6) : '';
}

export function formatArg(n: number): string {
  return n > 0xffff ? `0x${n.toString(16)}` : String(n);
}

const SUMMARY_MAX = 200;
/** Fields that name a struct best: `file=/etc/passwd` rather than `file={path=..., ino=...}`. */
const NAMING_FIELDS = ['path', 'filename', 'name', 'comm', 'addr'];

/** A one-line rendering of decoded arguments for the list: `file=/etc/passwd mask=MAY_READ`. */
export function summarizeArgs(args: { readonly [name: string]: TraceValue } | undefined): string {
  if (!args) return '';
  let out = '';
  for (const key in args) {
    if (out.length >= SUMMARY_MAX) break;
    out += `${out ? ' ' : ''}${key}=${brief(args[key], 0)}`;
  }
  return out.length > SUMMARY_MAX ? `${out.slice(0, SUMMARY_MAX - 1)}…` : out;
}

function brief(v: TraceValue, depth: number): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return `[${v.slice(0, 4).map((x) => brief(x, depth + 1)).join(', ')}${v.length > 4 ? ', …' : ''}]`;
  const rec = v as { readonly [field: string]: TraceValue };
  for (const f of NAMING_FIELDS) if (typeof rec[f] === 'string' || typeof rec[f] === 'number') return String(rec[f]);
  if (depth > 0) return '{…}';
  const parts: string[] = [];
  for (const k in rec) {
    parts.push(`${k}=${brief(rec[k], depth + 1)}`);
    if (parts.length === 3) break;
  }
  return `{${parts.join(' ')}}`;
}
