// A light reading of a BPF C file: the LSM SEC strings, the BPF_PROG heads after them, their bodies and
// the helper calls inside. It is not a C parser; it tolerates half-typed code, because completion
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
}

export interface ProgArg {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export interface ProgRef {
  /** The SEC this program is attached by (the closest LSM SEC before it with no program between). */
  readonly sec?: SecRef;
  /** First BPF_PROG argument: the program's C name (often the hook's name). */
  readonly name: ProgArg;
  /** The remaining arguments: the hook's parameters, then optionally `int ret`. */
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

export interface ProbeDocument {
  readonly text: string;
  readonly secs: readonly SecRef[];
  readonly progs: readonly ProgRef[];
  /** Helper calls per program, in the same order as progs. */
  readonly helperCalls: ReadonlyArray<readonly HelperCall[]>;
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

const SEC_RE = /\bSEC\s*\(\s*"(lsm(?:\.s)?)\/([^"\n]*)"/g;
const PROG_RE = /\bBPF_PROG\s*\(/g;

export function parseProbeDocument(text: string, sleepableOnlyHelpers: readonly string[] = []): ProbeDocument {
  const masked = blankComments(text);
  const secs: SecRef[] = [];
  for (let m = SEC_RE.exec(masked); m; m = SEC_RE.exec(masked)) {
    const kindStart = m.index + m[0].indexOf('"') + 1;
    const kindEnd = kindStart + m[1].length;
    const hookStart = kindEnd + 1;
    secs.push({ kind: m[1] as 'lsm' | 'lsm.s', hook: m[2].trim(), hookStart, hookEnd: hookStart + m[2].length, kindStart, kindEnd });
  }
  const progs: ProgRef[] = [];
  for (let m = PROG_RE.exec(masked); m; m = PROG_RE.exec(masked)) {
    const argsStart = m.index + m[0].length;
    const { args, end } = splitArgs(masked, argsStart);
    if (args.length === 0) continue;
    let bodyStart: number | undefined;
    let bodyEnd: number | undefined;
    const brace = /^\s*\{/.exec(masked.slice(end + 1, end + 200));
    if (brace) {
      bodyStart = end + 1 + brace[0].length - 1;
      bodyEnd = matchBrace(masked, bodyStart);
    }
    progs.push({ name: args[0], params: args.slice(1), argsStart, argsEnd: end, bodyStart, bodyEnd, sec: undefined });
  }
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
  return { text, secs, progs: attached, helperCalls };
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
