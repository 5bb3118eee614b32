// A light reading of a BPF C file: the LSM SEC strings (also those a macro builds, expanded at the
// macro's visible uses), the BPF_PROG / BPF_PROG2 heads after them, their bodies, the helper calls and
// the return statements inside. It is not a C parser; it tolerates half-typed code, because completion
// runs on exactly that. Offsets are into the document text; comments are blanked out first so that
// commented-out code neither completes nor squiggles.

export interface SecRef {
  /** `lsm` or `lsm.s`. */
  readonly kind: 'lsm' | 'lsm.s';
  readonly hook: string;
  /** Offsets of the hook name inside the string. */
  readonly hookStart: number;
  readonly hookEnd: number;
  /** Offsets of the `lsm` / `lsm.s` prefix. */
  readonly kindStart: number;
  readonly kindEnd: number;
  /**
   * The name is built from more than one token (`SEC("lsm/path_" #NAME)` in a macro): `hook` is only
   * the literal part, and nothing is said about it or its program.
   */
  readonly composed?: boolean;
  /** Set on a SEC found by expanding a macro use: the use's text (`LSM_PATH(mkdir)`); offsets cover the use's argument. */
  readonly expandedFrom?: string;
}

export interface ProgArg {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export interface ProgRef {
  /** The SEC this program is attached by (the closest LSM SEC before it with no program between). */
  readonly sec?: SecRef;
  readonly macro: 'BPF_PROG' | 'BPF_PROG2';
  /** Offset of the macro name (the regenerate fix rewrites from here to argsEnd). */
  readonly macroStart: number;
  /** First BPF_PROG argument: the program's C name (often the hook's name). */
  readonly name: ProgArg;
  /**
   * The remaining arguments: the hook's parameters (a prefix of them is fine), then optionally `int ret`.
   * BPF_PROG2's `type, name` pairs are joined into one argument each (`kuid_t uid`).
   */
  readonly params: readonly ProgArg[];
  /** Offsets just inside the parentheses. */
  readonly argsStart: number;
  readonly argsEnd: number;
  readonly bodyStart?: number;
  readonly bodyEnd?: number;
}

export interface HelperCall {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/** `return <expr>;` inside a program body. */
export interface ReturnStmt {
  /** The expression, whitespace-collapsed. */
  readonly expr: string;
  readonly start: number;
  readonly end: number;
}

export interface ProbeDocument {
  readonly text: string;
  /** The text with comments blanked out (same offsets). */
  readonly masked: string;
  readonly secs: readonly SecRef[];
  readonly progs: readonly ProgRef[];
  /** Helper calls per program, in the same order as progs. */
  readonly helperCalls: ReadonlyArray<readonly HelperCall[]>;
  /** Return statements per program, in the same order as progs (only those not inside a nested function-like macro). */
  readonly returns: ReadonlyArray<readonly ReturnStmt[]>;
}

/** True when `offset` sits inside a comment (the masked text is blank where the real text is not). */
export function inComment(probe: ProbeDocument, offset: number): boolean {
  const i = offset - 1;
  if (i < 0 || i >= probe.text.length) return false;
  if (probe.masked === probe.text) return false;
  const c = probe.text.charCodeAt(i);
  return probe.masked.charCodeAt(i) !== c || (c === 0x2a && probe.text.charCodeAt(i - 1) === 0x2f);
}

/** Replaces comments with spaces (newlines kept) so offsets stay valid. Strings are left alone. */
export function blankComments(text: string): string {
  // Runs per keystroke: copy untouched stretches as slices instead of building a char array.
  const parts: string[] = [];
  let copied = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x27) {
      i++;
      while (i < n && text.charCodeAt(i) !== c && text.charCodeAt(i) !== 0x0a) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
      i++;
    } else if (c === 0x2f && (text.charCodeAt(i + 1) === 0x2f || text.charCodeAt(i + 1) === 0x2a)) {
      let stop: number;
      if (text.charCodeAt(i + 1) === 0x2f) {
        const nl = text.indexOf('\n', i);
        stop = nl < 0 ? n : nl;
      } else {
        const end = text.indexOf('*/', i + 2);
        stop = end < 0 ? n : end + 2;
      }
      parts.push(text.slice(copied, i), text.slice(i, stop).replace(/[^\n]/g, ' '));
      copied = stop;
      i = stop;
    } else i++;
  }
  if (copied === 0) return text;
  parts.push(text.slice(copied));
  return parts.join('');
}

// The SEC's first string literal, then what follows it up to the closing parenthesis (more literals, `#NAME`).
const SEC_RE = /\bSEC\s*\(\s*"(lsm(?:\.s)?)\/([^"\n]*)"([^)\n]*)/g;
const PROG_RE = /\bBPF_PROG(2?)\s*\(/g;
const RETURN_RE = /\breturn\b([^;{}]*);/g;

export function parseProbeDocument(text: string, sleepableOnlyHelpers: readonly string[] = []): ProbeDocument {
  const masked = blankComments(text);
  const secs: SecRef[] = [];
  for (let m = SEC_RE.exec(masked); m; m = SEC_RE.exec(masked)) {
    const kindStart = m.index + m[0].indexOf('"') + 1;
    const kindEnd = kindStart + m[1].length;
    const hookStart = kindEnd + 1;
    const rest = m[3].trim();
    // `"lsm/" "file_open"` is one literal to C; anything else (`#NAME`, an identifier) is built by a macro.
    const more = /^(?:"[^"\n]*"\s*)+$/.test(rest) ? [...rest.matchAll(/"([^"\n]*)"/g)].map((x) => x[1]).join('') : undefined;
    const composed = rest !== '' && more === undefined;
    const hook = (m[2] + (more ?? '')).trim();
    secs.push({ kind: m[1] as 'lsm' | 'lsm.s', hook, hookStart, hookEnd: hookStart + m[2].length, kindStart, kindEnd, composed: composed || undefined });
  }
  const progs: ProgRef[] = [];
  for (let m = PROG_RE.exec(masked); m; m = PROG_RE.exec(masked)) {
    const argsStart = m.index + m[0].length;
    const { args, end } = splitArgs(masked, argsStart);
    if (args.length === 0) continue;
    let bodyStart: number | undefined;
    let bodyEnd: number | undefined;
    // A `\` line continuation sits between head and body inside a #define.
    const brace = /^[\s\\]*\{/.exec(masked.slice(end + 1, end + 200));
    if (brace) {
      bodyStart = end + 1 + brace[0].length - 1;
      bodyEnd = matchBrace(masked, bodyStart);
    }
    const macro = m[1] ? 'BPF_PROG2' : 'BPF_PROG';
    const params = macro === 'BPF_PROG2' ? pairUp(args.slice(1)) : args.slice(1);
    progs.push({ macro, macroStart: m.index, name: args[0], params, argsStart, argsEnd: end, bodyStart, bodyEnd, sec: undefined });
  }
  secs.push(...expandMacroSecs(masked, secs));
  secs.sort((a, b) => a.hookStart - b.hookStart);
  // Attach each program to the closest LSM SEC before it, if no other program sits between them.
  let si = 0;
  let lastProgEnd = -1;
  const attached: ProgRef[] = progs.map((p) => {
    let sec: SecRef | undefined;
    while (si < secs.length && secs[si].hookEnd <= p.argsStart) {
      if (secs[si].hookStart > lastProgEnd) sec = secs[si];
      si++;
    }
    lastProgEnd = p.argsEnd;
    return { ...p, sec };
  });
  const helperRe = sleepableOnlyHelpers.length ? new RegExp(`\\b(${sleepableOnlyHelpers.join('|')})\\s*\\(`, 'g') : undefined;
  const helperCalls = attached.map((p) => {
    const calls: HelperCall[] = [];
    if (!helperRe || p.bodyStart === undefined) return calls;
    const body = masked.slice(p.bodyStart, p.bodyEnd ?? masked.length);
    helperRe.lastIndex = 0;
    for (let h = helperRe.exec(body); h; h = helperRe.exec(body)) {
      calls.push({ name: h[1], start: p.bodyStart + h.index, end: p.bodyStart + h.index + h[1].length });
    }
    return calls;
  });
  const returns = attached.map((p) => {
    const found: ReturnStmt[] = [];
    if (p.bodyStart === undefined) return found;
    const body = masked.slice(p.bodyStart, p.bodyEnd ?? masked.length);
    RETURN_RE.lastIndex = 0;
    for (let r = RETURN_RE.exec(body); r; r = RETURN_RE.exec(body)) {
      const lead = r[1].length - r[1].trimStart().length;
      const expr = r[1].trim();
      const start = p.bodyStart + r.index + 'return'.length + lead;
      found.push({ expr: expr.replace(/\s+/g, ' '), start, end: start + expr.length });
    }
    return found;
  });
  return { text, masked, secs, progs: attached, helperCalls, returns };
}

/** BPF_PROG2's `type, name, type, name` as one `type name` argument per pair (an odd tail stays alone). */
function pairUp(args: ProgArg[]): ProgArg[] {
  const out: ProgArg[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const t = args[i];
    const n = args[i + 1];
    out.push(n ? { text: `${t.text} ${n.text}`, start: t.start, end: n.end } : t);
  }
  return out;
}

const DEFINE_RE = /^[ \t]*#[ \t]*define[ \t]+(\w+)(\(([^)]*)\))?/gm;

interface MacroDef {
  readonly name: string;
  readonly params?: string[];
  readonly start: number;
  readonly end: number;
  /** The replacement text (continuations kept). */
  readonly body: string;
}

/** Every `#define` with its extent (through `\` continuations). */
function defines(masked: string): MacroDef[] {
  const out: MacroDef[] = [];
  DEFINE_RE.lastIndex = 0;
  for (let m = DEFINE_RE.exec(masked); m; m = DEFINE_RE.exec(masked)) {
    let end = m.index;
    for (;;) {
      const nl = masked.indexOf('\n', end);
      if (nl < 0) {
        end = masked.length;
        break;
      }
      if (!/\\[ \t\r]*$/.test(masked.slice(end, nl))) {
        end = nl;
        break;
      }
      end = nl + 1;
    }
    const params = m[2] !== undefined ? m[3].split(',').map((x) => x.trim()).filter(Boolean) : undefined;
    out.push({ name: m[1], params, start: m.index, end, body: masked.slice(m.index + m[0].length, end) });
    DEFINE_RE.lastIndex = Math.max(end, DEFINE_RE.lastIndex);
  }
  return out;
}

/**
 * For each SEC a function-like macro builds (`SEC("lsm/path_" #NAME)`), the hook each visible use of
 * the macro names (`LSM_PATH(mkdir)` -> path_mkdir). A use whose argument cannot be read as text is
 * skipped: the server says nothing rather than guess.
 */
function expandMacroSecs(masked: string, secs: readonly SecRef[]): SecRef[] {
  const composed = secs.filter((s) => s.composed);
  if (composed.length === 0) return [];
  const defs = defines(masked);
  const strings = new Map<string, string>();
  for (const d of defs) {
    const lit = /^\s*"([^"\n]*)"\s*$/.exec(d.body);
    if (!d.params && lit) strings.set(d.name, lit[1]);
  }
  const out: SecRef[] = [];
  for (const s of composed) {
    const def = defs.find((d) => d.params && s.hookStart > d.start && s.hookStart < d.end);
    if (!def) continue;
    // The SEC's argument inside the definition, from the first literal to the closing parenthesis.
    const open = masked.lastIndexOf('"', s.kindStart - 1);
    const close = masked.indexOf(')', s.hookEnd);
    if (open < 0 || close < 0) continue;
    const expr = masked.slice(open, close);
    const use = new RegExp(`\\b${def.name}\\s*\\(`, 'g');
    for (let u = use.exec(masked); u; u = use.exec(masked)) {
      // A use inside another definition has that macro's parameters for arguments, not names.
      if (defs.some((d) => u.index >= d.start && u.index < d.end)) continue;
      const argsAt = u.index + u[0].length;
      const { args, end } = splitArgs(masked, argsAt);
      const hook = expandSecName(expr, def.params!, args.map((a) => a.text), strings);
      const m = /^(lsm(?:\.s)?)\/(.*)$/.exec(hook ?? '');
      if (!m || !/^\w+$/.test(m[2])) continue;
      const first = args[0] ?? { start: argsAt, end: argsAt };
      const last = args[args.length - 1] ?? first;
      out.push({
        kind: m[1] as 'lsm' | 'lsm.s',
        hook: m[2],
        hookStart: first.start,
        hookEnd: Math.max(last.end, first.start),
        kindStart: u.index,
        kindEnd: u.index + def.name.length,
        expandedFrom: masked.slice(u.index, end + 1).replace(/\s+/g, ' '),
      });
    }
  }
  return out;
}

/** The text of a SEC argument after substituting a macro use: literals, `#param`, string macros; undefined when other tokens remain. */
function expandSecName(expr: string, params: string[], args: string[], strings: ReadonlyMap<string, string>): string | undefined {
  let out = '';
  const re = /\s*(?:"([^"\n]*)"|#\s*(\w+)|(\w+)|\\\s*)/gy;
  let at = 0;
  for (let t = re.exec(expr); t; t = re.exec(expr)) {
    at = re.lastIndex;
    if (t[1] !== undefined) out += t[1];
    else if (t[2] !== undefined) {
      const i = params.indexOf(t[2]);
      if (i < 0 || args[i] === undefined) return undefined;
      out += args[i];
    } else if (t[3] !== undefined) {
      const i = params.indexOf(t[3]);
      const value = i >= 0 ? /^"([^"\n]*)"$/.exec(args[i] ?? '')?.[1] ?? strings.get(args[i] ?? '') : strings.get(t[3]);
      if (value === undefined) return undefined;
      out += value;
    }
    if (at >= expr.length) break;
  }
  return expr.slice(at).trim() === '' ? out : undefined;
}

/** Splits a parenthesised argument list at top-level commas; `end` is the offset of the closing `)` (or the text end). */
function splitArgs(text: string, start: number): { args: ProgArg[]; end: number } {
  const args: ProgArg[] = [];
  let depth = 0;
  let argStart = start;
  let i = start;
  const push = (to: number): void => {
    const raw = text.slice(argStart, to);
    const lead = raw.length - raw.trimStart().length;
    const t = raw.trim();
    if (t || args.length) args.push({ text: t.replace(/\s+/g, ' '), start: argStart + lead, end: argStart + lead + t.length });
  };
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') {
      if (depth === 0) break;
      depth--;
    } else if (c === ',' && depth === 0) {
      push(i);
      argStart = i + 1;
    } else if (c === ';' || c === '{') break;
  }
  push(i);
  return { args, end: i };
}

function matchBrace(text: string, open: number): number | undefined {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      i++;
      while (i < text.length && text[i] !== c && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
    } else if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return undefined;
}
