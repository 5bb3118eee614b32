// A rejected load turned into a source diagnostic: verifier log + the object's BTF line info -> file,
// line, message and explanation.
import { objectLineInfo, locate } from './lineInfo';
import { parseVerifierLog, type VerifierFailure } from './log';

export interface VerifierDiagnostic {
  readonly failure: VerifierFailure;
  /** Source file as the compiler recorded it (absolute when clang was given an absolute path). */
  readonly file?: string;
  /** 1-based. */
  readonly line?: number;
  /** 1-based; 0 when unknown. */
  readonly column: number;
  readonly program?: string;
}

export function diagnoseRejection(log: string, object: Uint8Array, section?: string, program?: string): VerifierDiagnostic | undefined {
  const failure = parseVerifierLog(log);
  if (!failure) return undefined;
  const base = { failure, ...(program ? { program } : {}) };
  if (failure.sourceFile && failure.sourceLine) return { ...base, file: failure.sourceFile, line: failure.sourceLine, column: 0 };
  if (!failure.sourceText) return { ...base, column: 0 };
  const hit = locate(objectLineInfo(object), section, failure.sourceText, failure.insn);
  return hit ? { ...base, file: hit.file, line: hit.line, column: hit.column } : { ...base, column: 0 };
}

/** One line per rejection as compilers print them, so terminals and problem matchers pick it up. */
export function formatVerifierDiagnostic(d: VerifierDiagnostic, fallbackFile: string): string {
  const where = `${d.file ?? fallbackFile}:${d.line ?? 1}:${d.column || 1}`;
  const f = d.failure;
  const lines = [`${where}: error: verifier: ${f.message.split('\n')[0]}`];
  if (f.insnText !== undefined) lines.push(`  at instruction ${f.insn}: ${f.insnText}`);
  if (f.registers) lines.push(`  registers: ${f.registers}`);
  lines.push(`  why: ${f.explanation}`);
  return lines.join('\n');
}
