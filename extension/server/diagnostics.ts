// Diagnostics and their quick fixes. Each diagnostic has a stable `code` (below) and, where a fix is
// obvious, the data the code action needs, so the fix is computed where the problem was found.
//   unknown-hook      SEC names no hook of any known kernel          fix: rename to the suggestion
//   missing-hook      the hook exists on other kernels, not this one  fix: rename to its successor
//   disabled-hook     the kernel refuses BPF programs on the hook
//   not-sleepable     lsm.s/ on a hook that may not sleep             fix: use lsm/
//   param-count       BPF_PROG lists a different number of arguments  fix: regenerate the list
//   param-type        an argument's type differs from the kernel's    fix: regenerate the list
//   sleepable-helper  a sleepable-only helper in a non-sleepable program  fix: use lsm.s/ (when allowed)
import { CodeAction, CodeActionKind, Diagnostic, DiagnosticSeverity, Range, TextEdit } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { HookCatalog, hookSignature } from '../shared/hooks/catalog';
import { hookHistory } from '../shared/hooks/history';
import { SLEEPABLE_ONLY_HELPERS } from '../shared/hooks/rules';
import { suggestHooks } from '../shared/hooks/suggest';
import { bpfProgArgs } from '../shared/hooks/stub';
import { checkParams } from './paramCheck';
import { ProbeDocument } from './probeDocument';

export const SOURCE = 'bpf-lsm';

interface FixData {
  /** Text edits that fix the problem, with the action's title. */
  readonly title: string;
  readonly edits: Array<{ start: number; end: number; newText: string }>;
}

function range(doc: TextDocument, start: number, end: number): Range {
  return Range.create(doc.positionAt(start), doc.positionAt(end));
}

export function diagnose(catalog: HookCatalog, doc: TextDocument, probe: ProbeDocument): Diagnostic[] {
  const out: Diagnostic[] = [];
  const kernel = catalog.kernelLabel;
  const push = (start: number, end: number, severity: DiagnosticSeverity, code: string, message: string, fixes: FixData[] = []): void => {
    out.push({ range: range(doc, start, end), severity, code, source: SOURCE, message, data: fixes.length ? { fixes } : undefined });
  };
  // Renames must reach the BPF_PROG name too when it repeats the hook name.
  const renameEdits = (secIndex: number, to: string): FixData['edits'] => {
    const s = probe.secs[secIndex];
    const edits = [{ start: s.hookStart, end: s.hookEnd, newText: to }];
    const prog = probe.progs.find((p) => p.sec === s);
    if (prog && prog.name.text === s.hook) edits.push({ start: prog.name.start, end: prog.name.end, newText: to });
    return edits;
  };

  probe.secs.forEach((s, i) => {
    const h = catalog.get(s.hook);
    const start = s.hookStart;
    const end = Math.max(s.hookEnd, s.hookStart + 1);
    if (!h) {
      if (!s.hook) {
        push(s.kindStart, s.hookEnd, DiagnosticSeverity.Error, 'unknown-hook', `SEC("${s.kind}/") names no hook. Complete a hook name after "${s.kind}/".`);
        return;
      }
      const history = hookHistory(s.hook);
      if (history) {
        const successor = history.replacedBy && catalog.has(history.replacedBy) ? history.replacedBy : undefined;
        push(
          start,
          end,
          DiagnosticSeverity.Error,
          'missing-hook',
          `LSM hook "${s.hook}" does not exist on the target kernel ${kernel} (it exists on ${history.seenOn}, not on ${history.absentOn})` +
            (successor ? `; its successor here is "${successor}".` : '. Pick a hook this kernel has, or target another kernel.'),
          successor ? [{ title: `Use "${successor}"`, edits: renameEdits(i, successor) }] : [],
        );
        return;
      }
      const suggestions = suggestHooks(s.hook, catalog.hooks.map((x) => x.name));
      push(
        start,
        end,
        DiagnosticSeverity.Error,
        'unknown-hook',
        `Unknown LSM hook "${s.hook}" on kernel ${kernel}.` + (suggestions.length ? ` Did you mean "${suggestions[0]}"?` : ' Use completion after "lsm/" to pick one.'),
        suggestions.map((sug) => ({ title: `Change to "${sug}"`, edits: renameEdits(i, sug) })),
      );
      return;
    }
    if (h.disabled) {
      push(start, end, DiagnosticSeverity.Error, 'disabled-hook', `The kernel (${kernel}) refuses BPF programs on "${h.name}": loading fails with "points to disabled hook". Source: ${h.disabledSource}.`);
    }
    if (s.kind === 'lsm.s' && !h.sleepable) {
      push(
        s.kindStart,
        end,
        DiagnosticSeverity.Error,
        'not-sleepable',
        `"${h.name}" is not a sleepable hook on kernel ${kernel}: SEC("lsm.s/${h.name}") is rejected at load. Use SEC("lsm/${h.name}").`,
        [{ title: 'Use SEC("lsm/...")', edits: [{ start: s.kindStart, end: s.kindEnd, newText: 'lsm' }] }],
      );
    }
  });

  probe.progs.forEach((p, i) => {
    const s = p.sec;
    const h = s ? catalog.get(s.hook) : undefined;
    if (!s || !h) return;
    const regenerate: FixData = {
      title: `Regenerate the parameter list from ${h.name}'s kernel signature`,
      edits: [{ start: p.argsStart, end: p.argsEnd, newText: bpfProgArgs(h).replace(h.name, p.name.text) }],
    };
    for (const problem of checkParams(catalog, h, p.params.map((a) => a.text))) {
      if (problem.kind === 'count') {
        const first = p.params[0]?.start ?? p.name.end;
        const last = p.params[p.params.length - 1]?.end ?? p.name.end;
        push(
          p.params.length ? first : p.name.start,
          p.params.length ? last : p.name.end,
          DiagnosticSeverity.Error,
          'param-count',
          `BPF_PROG lists ${problem.got} argument(s) after the program name, but ${h.name} on kernel ${kernel} passes ${problem.expected}` +
            `${problem.allowsRet ? ' (plus an optional int ret)' : ' (void hook: no ret argument)'}: ${hookSignature(h)}.`,
          [regenerate],
        );
      } else if (problem.kind === 'type') {
        const a = p.params[problem.index];
        push(a.start, a.end, DiagnosticSeverity.Warning, 'param-type', `Argument ${problem.index + 1} is "${problem.got}", but ${h.name} on kernel ${kernel} passes "${problem.expected}".`, [regenerate]);
      } else {
        const a = p.params[p.params.length - 1];
        push(a.start, a.end, DiagnosticSeverity.Warning, 'param-type', `The last argument of an int hook's program is the verdict so far and should be "int ret", not "${problem.got}".`, [regenerate]);
      }
    }
    if (s.kind === 'lsm') {
      for (const call of probe.helperCalls[i]) {
        const fixes: FixData[] = h.sleepable ? [{ title: `Make the program sleepable: SEC("lsm.s/${h.name}")`, edits: [{ start: s.kindStart, end: s.kindEnd, newText: 'lsm.s' }] }] : [];
        push(
          call.start,
          call.end,
          DiagnosticSeverity.Error,
          'sleepable-helper',
          `${call.name} is only available to sleepable programs (${SLEEPABLE_ONLY_HELPERS[call.name]}). This program is SEC("lsm/${h.name}"); ` +
            (h.sleepable ? `use SEC("lsm.s/${h.name}").` : `${h.name} is not sleepable on kernel ${kernel}, so pick a sleepable hook or another helper.`),
          fixes,
        );
      }
    }
  });
  return out;
}

/** Code actions for the diagnostics in range that carry fixes. */
export function codeActions(doc: TextDocument, diagnostics: Diagnostic[]): CodeAction[] {
  const actions: CodeAction[] = [];
  for (const d of diagnostics) {
    if (d.source !== SOURCE) continue;
    const fixes = (d.data as { fixes?: FixData[] } | undefined)?.fixes ?? [];
    fixes.forEach((f, i) => {
      const edits: TextEdit[] = f.edits.map((e) => TextEdit.replace(range(doc, e.start, e.end), e.newText));
      actions.push({ title: f.title, kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: i === 0, edit: { changes: { [doc.uri]: edits } } });
    });
  }
  return actions;
}
