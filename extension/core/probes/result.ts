// What building a probe gives back, wherever it was built (here or on the target): the object, or clang's
// diagnostics parsed into records for the Problems view and the CLI.

export interface CompileDiagnostic {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  readonly severity: 'error' | 'warning' | 'note';
  readonly message: string;
}

export interface ProbeBuild {
  readonly ok: boolean;
  readonly objectPath: string;
  readonly diagnostics: CompileDiagnostic[];
  /** clang's whole output (what the problem matcher of the VS Code task reads). */
  readonly output: string;
  readonly command: string[];
  readonly vmlinuxDir: string;
}

const DIAG = /^(.+?):(\d+):(\d+): (fatal error|error|warning|note): (.*)$/;

/** clang's "file:line:col: severity: message" lines; notes are kept so users see "expanded from macro". */
export function parseClangDiagnostics(text: string): CompileDiagnostic[] {
  const out: CompileDiagnostic[] = [];
  for (const line of text.split('\n')) {
    const m = DIAG.exec(line.trimEnd());
    if (!m) continue;
    const severity = m[4] === 'fatal error' ? 'error' : (m[4] as CompileDiagnostic['severity']);
    out.push({ file: m[1], line: Number(m[2]), column: Number(m[3]), severity, message: m[5] });
  }
  return out;
}
