// JUnit XML for CI systems: one <testsuite> per scenario file, one <testcase> per scenario and kernel,
// named "<scenario> [<kernel>]" so the kernel shows wherever the CI lists test cases.
import { relative } from 'node:path';
import type { CaseResult } from './runner';

const esc = (s: string) =>
  s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

export const caseName = (r: Pick<CaseResult, 'scenario' | 'kernel'>) => `${r.scenario} [${r.kernel}]`;

export function junitXml(results: readonly CaseResult[], cwd = process.cwd()): string {
  const byFile = new Map<string, CaseResult[]>();
  for (const r of results) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  const failures = results.filter((r) => !r.passed).length;
  const total = results.reduce((a, r) => a + r.durationMs, 0);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="bpf-lsm test" tests="${results.length}" failures="${failures}" time="${secs(total)}">`];
  for (const [file, rs] of byFile) {
    const name = esc(relative(cwd, file) || file);
    lines.push(`  <testsuite name="${name}" tests="${rs.length}" failures="${rs.filter((r) => !r.passed).length}" time="${secs(rs.reduce((a, r) => a + r.durationMs, 0))}">`);
    for (const r of rs) {
      const head = `    <testcase classname="${name}" name="${esc(caseName(r))}" time="${secs(r.durationMs)}"`;
      if (r.passed) lines.push(`${head}/>`);
      else lines.push(`${head}>`, `      <failure message="${esc(r.message!.split('\n')[0])}">${esc(r.message!)}</failure>`, '    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}
