// Diagnostics and their quick fixes. Each diagnostic has a stable `code` (below) and, where a fix is
// obvious, the data the code action needs, so the fix is computed where the problem was found.
//   unknown-hook      SEC names no hook of any known kernel          fix: rename to the suggestion
//   missing-hook      the hook exists on other kernels, not this one  fix: rename to its successor
//   disabled-hook     the kernel refuses BPF programs on the hook
//   not-sleepable     lsm.s/ on a hook that may not sleep             fix: use lsm/
//   param-count       BPF_PROG lists more arguments than the hook passes  fix: regenerate the list
//   param-type        an argument's type differs from the kernel's    fix: regenerate the list
//   by-value          BPF_PROG declares a struct passed by value (does not compile)  fix: BPF_PROG2
//   sleepable-helper  a sleepable-only helper in a program that may not call it  fix: use lsm.s/ (when allowed)
//   return-range      a literal return outside the hook's range (an error where the verifier refuses it)
//   return-ignored    a void hook's program returns a value the kernel ignores (info)
//   return-arg        the program returns one of the hook's arguments, not a result
//   wrong-sec         the program is named after another hook and declares that hook's arguments  fix: that SEC
// A fact that depends on the kernel version is an error only when the version is known (or the BTF proves
// it); otherwise a warning that says from which version on.
import { CodeAction, CodeActionKind, Diagnostic, DiagnosticSeverity, Range, TextEdit } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { Hook, HookCatalog, hookSignature } from '../shared/hooks/catalog';
import { hookHistory } from '../shared/hooks/history';
import { formatKernelVersion } from '../shared/hooks/kernelVersion';
import { HOOK_GATED_HELPERS, RETURN_RANGE_CHECKED_SINCE, SLEEPABLE_ONLY_HELPERS } from '../shared/hooks/rules';
import { suggestHooks } from '../shared/hooks/suggest';
import { bpfProgArgs, progMacro } from '../shared/hooks/stub';
import { checkParams, paramsFit } from './paramCheck';
import { ProbeDocument, ProgRef, SecRef } from './probeDocument';
import { checkReturns } from './returnCheck';

export const SOURCE = 'bpf-lsm';

/** Longest hook name quoted in a message, and longest message: a pasted blob must not become a megabyte of diagnostics. */
const NAME_CAP = 80;
const MESSAGE_CAP = 600;

interface FixData {
  /** Text edits that fix the problem, with the action's title. */
  readonly title: string;
  readonly edits: Array<{ start: number; end: number; newText: string }>;
}

function range(doc: TextDocument, start: number, end: number): Range {
  return Range.create(doc.positionAt(start), doc.positionAt(end));
}

function quoteName(name: string): string {
  return name.length > NAME_CAP ? `${name.slice(0, NAME_CAP)}…` : name;
}

function capMessage(message: string): string {
  return message.length > MESSAGE_CAP ? `${message.slice(0, MESSAGE_CAP - 1)}…` : message;
}

/** "Did you mean" per misspelt name and catalog: each keystroke re-checks every SEC, and most names did not change. */
const suggestionMemo = new WeakMap<HookCatalog, Map<string, string[]>>();

function suggestionsFor(catalog: HookCatalog, name: string): string[] {
  let memo = suggestionMemo.get(catalog);
  if (!memo) suggestionMemo.set(catalog, (memo = new Map()));
  let found = memo.get(name);
  if (!found) {
    found = name.length > NAME_CAP ? [] : suggestHooks(name, catalog.hooks.map((x) => x.name));
    if (memo.size > 20_000) memo.clear();
    memo.set(name, found);
  }
  return found;
}

/** The rewrite of a program's head from the hook's kernel signature, keeping the program's name (and switching to BPF_PROG2 when needed). */
export function regenerateFix(h: Hook, p: ProgRef): FixData {
  return {
    title: `Regenerate the parameter list from ${h.name}'s kernel signature`,
    edits: [{ start: p.macroStart, end: p.argsEnd, newText: `${progMacro(h)}(${bpfProgArgs(h, p.name.text)}` }],
  };
}

/** The diagnostics of a whole document, computed in slices so that the caller can yield and cancel between them. */
export class DocumentCheck {
  readonly out: Diagnostic[] = [];
  private readonly kernel: string;

  constructor(
    private readonly catalog: HookCatalog,
    private readonly doc: TextDocument,
    private readonly probe: ProbeDocument,
  ) {
    this.kernel = catalog.kernelLabel;
  }

  /** Number of work items: every SEC, then every program. */
  get size(): number {
    return this.probe.secs.length + this.probe.progs.length;
  }

  /** Runs work items [from, to). */
  run(from: number, to: number): void {
    const secs = this.probe.secs.length;
    for (let i = from; i < Math.min(to, this.size); i++) {
      if (i < secs) this.checkSec(this.probe.secs[i]);
      else this.checkProg(i - secs);
    }
  }

  private push(start: number, end: number, severity: DiagnosticSeverity, code: string, message: string, fixes: FixData[] = []): void {
    this.out.push({ range: range(this.doc, start, end), severity, code, source: SOURCE, message: capMessage(message), data: fixes.length ? { fixes } : undefined });
  }

  private progBySec: Map<SecRef, ProgRef> | undefined;

  /** Renames must reach the BPF_PROG name too when it repeats the hook name. */
  private renameEdits(s: SecRef, to: string): FixData['edits'] {
    const edits = [{ start: s.hookStart, end: s.hookEnd, newText: to }];
    if (!this.progBySec) {
      this.progBySec = new Map();
      for (const p of this.probe.progs) if (p.sec) this.progBySec.set(p.sec, p);
    }
    const prog = this.progBySec.get(s);
    if (prog && prog.name.text === s.hook) edits.push({ start: prog.name.start, end: prog.name.end, newText: to });
    return edits;
  }

  private checkSec(s: SecRef): void {
    // A name a macro builds says nothing by itself; its expansions at the macro's uses are checked instead.
    if (s.composed) return;
    const { catalog, kernel } = this;
    const h = catalog.get(s.hook);
    const start = s.hookStart;
    const end = Math.max(s.hookEnd, s.hookStart + 1);
    const name = quoteName(s.hook);
    const via = s.expandedFrom ? ` (from ${quoteName(s.expandedFrom)})` : '';
    // A fix at a macro use would rewrite the macro's argument, not the name: expansions get none.
    const canFix = !s.expandedFrom;
    if (!h) {
      if (!s.hook) {
        this.push(s.kindStart, s.hookEnd, DiagnosticSeverity.Error, 'unknown-hook', `SEC("${s.kind}/") names no hook. Complete a hook name after "${s.kind}/".`);
        return;
      }
      const history = hookHistory(s.hook);
      if (history) {
        const successor = history.replacedBy && catalog.has(history.replacedBy) ? history.replacedBy : undefined;
        this.push(
          start,
          end,
          DiagnosticSeverity.Error,
          'missing-hook',
          `LSM hook "${name}"${via} does not exist on the target kernel ${kernel} (it exists on ${history.seenOn}, not on ${history.absentOn})` +
            (successor ? `; its successor here is "${successor}".` : '. Pick a hook this kernel has, or target another kernel.'),
          successor && canFix ? [{ title: `Use "${successor}"`, edits: this.renameEdits(s, successor) }] : [],
        );
        return;
      }
      const suggestions = suggestionsFor(catalog, s.hook);
      this.push(
        start,
        end,
        DiagnosticSeverity.Error,
        'unknown-hook',
        `Unknown LSM hook "${name}"${via} on kernel ${kernel}.` + (suggestions.length ? ` Did you mean "${suggestions[0]}"?` : ' Use completion after "lsm/" to pick one.'),
        canFix ? suggestions.map((sug) => ({ title: `Change to "${sug}"`, edits: this.renameEdits(s, sug) })) : [],
      );
      return;
    }
    if (h.disabled) {
      if (h.disabledWhen) {
        this.push(start, end, DiagnosticSeverity.Warning, 'disabled-hook', `Kernels refuse BPF programs on "${h.name}"${via} ${h.disabledWhen} ("points to disabled hook"); the target's version is unknown. Source: ${h.disabledSource}.`);
      } else {
        this.push(start, end, DiagnosticSeverity.Error, 'disabled-hook', `The kernel (${kernel}) refuses BPF programs on "${h.name}"${via}: loading fails with "points to disabled hook". Source: ${h.disabledSource}.`);
      }
    }
    const sleepFix: FixData[] = canFix ? [{ title: 'Use SEC("lsm/...")', edits: [{ start: s.kindStart, end: s.kindEnd, newText: 'lsm' }] }] : [];
    if (s.kind === 'lsm.s' && (!h.sleepable || h.sleepableWhen)) {
      if (h.sleepableWhen) {
        this.push(s.kindStart, end, DiagnosticSeverity.Warning, 'not-sleepable', `"${h.name}" takes sleepable programs only ${h.sleepableWhen}; the target's version is unknown. SEC("lsm/${h.name}") loads everywhere.`, sleepFix);
      } else {
        this.push(s.kindStart, end, DiagnosticSeverity.Error, 'not-sleepable', `"${h.name}" is not a sleepable hook on kernel ${kernel}: SEC("lsm.s/${h.name}")${via} is rejected at load. Use SEC("lsm/${h.name}").`, sleepFix);
      }
    }
  }

  private checkProg(i: number): void {
    const { catalog, kernel, probe } = this;
    const p = probe.progs[i];
    const s = p.sec;
    const h = s && !s.composed ? catalog.get(s.hook) : undefined;
    if (!s || !h) return;
    const params = p.params.map((a) => a.text);
    if (this.checkWrongSec(s, h, p, params)) return;
    const regenerate = regenerateFix(h, p);
    for (const problem of checkParams(catalog, h, params, p.macro)) {
      if (problem.kind === 'count') {
        const extra = p.params.slice(problem.expected + (problem.allowsRet ? 1 : 0));
        this.push(
          extra[0].start,
          extra[extra.length - 1].end,
          DiagnosticSeverity.Error,
          'param-count',
          `${p.macro} lists ${problem.got} argument(s) after the program name, but ${h.name} on kernel ${kernel} passes ${problem.expected}` +
            `${problem.allowsRet ? ' (plus an optional int ret)' : ' (void hook: no ret argument)'}: ${hookSignature(h)}.`,
          [regenerate],
        );
      } else if (problem.kind === 'type') {
        const a = p.params[problem.index];
        this.push(a.start, a.end, DiagnosticSeverity.Warning, 'param-type', `Argument ${problem.index + 1} is "${problem.got}", but ${h.name} on kernel ${kernel} passes "${problem.expected}".`, [regenerate]);
      } else if (problem.kind === 'by-value') {
        const a = p.params[problem.index];
        this.push(
          a.start,
          a.end,
          DiagnosticSeverity.Error,
          'by-value',
          `"${problem.expected}" is a struct passed by value: BPF_PROG cannot cast its argument slot to it (clang: "used type ... where arithmetic or pointer type is required"). Use BPF_PROG2, which takes "type, name" pairs: ${bpfProgArgs(h, p.name.text)}.`,
          [{ ...regenerate, title: 'Use BPF_PROG2 with the kernel signature' }],
        );
      } else {
        const a = p.params[p.params.length - 1];
        this.push(a.start, a.end, DiagnosticSeverity.Warning, 'param-type', `The last argument of an int hook's program is the verdict so far and should be "int ret", not "${problem.got}".`, [regenerate]);
      }
    }
    this.checkHelpers(s, h, i);
    this.checkReturnValues(h, p, i);
  }

  /**
   * A program named after another hook whose arguments fit that hook and not the SEC's: usually a
   * program copied with its head and a SEC left from the original. Returns true when reported.
   */
  private checkWrongSec(s: SecRef, h: Hook, p: ProgRef, params: string[]): boolean {
    const other = p.name.text !== h.name ? this.catalog.get(p.name.text) : undefined;
    if (!other || s.expandedFrom || params.length === 0) return false;
    if (!paramsFit(this.catalog, other, params, p.macro) || paramsFit(this.catalog, h, params, p.macro)) return false;
    const kind = s.kind === 'lsm.s' && !other.sleepable ? 'lsm' : s.kind;
    this.push(
      s.hookStart,
      Math.max(s.hookEnd, s.hookStart + 1),
      DiagnosticSeverity.Warning,
      'wrong-sec',
      `Program "${p.name.text}" declares the arguments of the hook ${other.name} (${hookSignature(other)}), but SEC attaches it to ${h.name}. Was SEC("${kind}/${other.name}") meant?`,
      [{ title: `Attach to ${other.name}: SEC("${kind}/${other.name}")`, edits: [{ start: s.kindStart, end: s.hookEnd, newText: `${kind}/${other.name}` }] }],
    );
    return true;
  }

  private checkHelpers(s: SecRef, h: Hook, i: number): void {
    if (s.kind !== 'lsm') return;
    const { kernel } = this;
    for (const call of this.probe.helperCalls[i]) {
      // bpf_d_path: the kernel allows it on the hooks of its sleepable set, whatever the program's kind.
      if (HOOK_GATED_HELPERS.has(call.name) && h.sleepable && !h.sleepableWhen) continue;
      const fixes: FixData[] = h.sleepable ? [{ title: `Make the program sleepable: SEC("lsm.s/${h.name}")`, edits: [{ start: s.kindStart, end: s.kindEnd, newText: 'lsm.s' }] }] : [];
      const where = HOOK_GATED_HELPERS.has(call.name) ? 'on hooks of the kernel\'s sleepable set' : 'to sleepable programs';
      const uncertain = h.sleepable && h.sleepableWhen !== undefined;
      this.push(
        call.start,
        call.end,
        uncertain ? DiagnosticSeverity.Warning : DiagnosticSeverity.Error,
        'sleepable-helper',
        `${call.name} is only available ${where} (${SLEEPABLE_ONLY_HELPERS[call.name]}). This program is SEC("lsm/${h.name}"); ` +
          (uncertain
            ? `${h.name} is sleepable only ${h.sleepableWhen} and the target's version is unknown.`
            : h.sleepable
              ? `use SEC("lsm.s/${h.name}").`
              : `${h.name} is not sleepable on kernel ${kernel}, so pick a sleepable hook or another helper.`),
        fixes,
      );
    }
  }

  private checkReturnValues(h: Hook, p: ProgRef, i: number): void {
    const since = formatKernelVersion(RETURN_RANGE_CHECKED_SINCE);
    const check = this.catalog.returnRange;
    for (const problem of checkReturns(this.catalog, h, p, this.probe.returns[i])) {
      const { start, end } = problem.at;
      if (problem.kind === 'void') {
        this.push(start, end, DiagnosticSeverity.Information, 'return-ignored', `${h.name} returns void: the kernel ignores this program's result (${problem.value}), so it cannot deny anything.`);
      } else if (problem.kind === 'arg') {
        this.push(
          start,
          end,
          DiagnosticSeverity.Warning,
          'return-arg',
          `"${problem.at.expr}" is bound to argument ${problem.index + 1} of ${h.name} (${problem.decl}), not to the hook's ${h.returns} result: the program returns that argument as its verdict.`,
        );
      } else {
        const what = `Returns ${problem.value}, but a program on ${h.name} must return ${problem.allowed}`;
        if (check.checked && check.certain) {
          this.push(start, end, DiagnosticSeverity.Error, 'return-range', `${what}: the verifier of kernel ${this.kernel} rejects the program.`);
        } else if (check.checked) {
          this.push(start, end, DiagnosticSeverity.Warning, 'return-range', `${what}: the verifier refuses it from ${since} on (the target's version is unknown).`);
        } else {
          const here = this.catalog.kernel.version ? `kernel ${this.kernel}` : 'this kernel (its BTF has no return range check)';
          this.push(start, end, DiagnosticSeverity.Warning, 'return-range', `${what}: ${here} loads it, but verifiers refuse it from ${since} on, and callers read other values as errors.`);
        }
      }
    }
  }
}

export function diagnose(catalog: HookCatalog, doc: TextDocument, probe: ProbeDocument): Diagnostic[] {
  const check = new DocumentCheck(catalog, doc, probe);
  check.run(0, check.size);
  return check.out;
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
