// The policy file as text: a proposed profile merged into an existing file (other fields and profiles kept
// as they are), printed with one rule per line, and the line difference between two versions, which is
// what Propose shows instead of overwriting a file that exists.
import { parsePolicyDocument, type Profile } from './profile';

/** JSON with two-space indent, where an object or list of plain values that fits stays on one line. */
export function formatPolicyJson(value: unknown, indent = ''): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const inner = indent + '  ';
  const entries = Array.isArray(value) ? value.map((v) => formatPolicyJson(v, inner)) : Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => `${JSON.stringify(k)}: ${formatPolicyJson(v, inner)}`);
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return open + close;
  const flat = Object.values(value).every((v) => v === null || typeof v !== 'object');
  const one = Array.isArray(value) ? `[${entries.join(', ')}]` : `{ ${entries.join(', ')} }`;
  if (flat && one.length + indent.length <= 110) return one;
  return `${open}\n${entries.map((e) => inner + e).join(',\n')}\n${indent}${close}`;
}

/** The file's text with `profile` added, or replacing the profile of the same name. */
export function mergeProfile(existing: string | undefined, profile: Profile, what = 'the policy'): string {
  const doc = existing === undefined ? {} : (JSON.parse(existing) as Record<string, unknown>);
  if (existing !== undefined) parsePolicyDocument(existing, what);
  const profiles = Array.isArray(doc.profiles) ? [...(doc.profiles as Array<{ name?: string; subject?: { path?: string } }>)] : [];
  const at = profiles.findIndex((p) => (p.name ?? p.subject?.path?.slice(p.subject.path.lastIndexOf('/') + 1)) === profile.name);
  if (at >= 0) profiles[at] = profile;
  else profiles.push(profile);
  const text = `${formatPolicyJson({ ...doc, profiles })}\n`;
  parsePolicyDocument(text, 'the merged policy');
  return text;
}

/** A line diff (longest common subsequence) with `context` unchanged lines around each change. */
export function lineDiff(before: string, after: string, context = 3): string {
  const a = before.replace(/\n$/, '').split('\n');
  const b = after.replace(/\n$/, '').split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops: Array<[' ' | '-' | '+', string]> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) ops.push([' ', a[i++]]), j++;
    else if (i < a.length && (j === b.length || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push(['-', a[i++]]);
    else ops.push(['+', b[j++]]);
  }
  const near = ops.map((_, k) => ops.slice(Math.max(0, k - context), k + context + 1).some(([op]) => op !== ' '));
  const out: string[] = [];
  ops.forEach(([op, line], k) => {
    if (near[k]) out.push(`${op} ${line}`);
    else if (k === 0 || near[k - 1]) out.push('  ...');
  });
  return ops.some(([op]) => op !== ' ') ? out.join('\n') : '';
}
