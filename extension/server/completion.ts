// Completion: hook names inside SEC("lsm/|") and SEC("lsm.s/|") (the latter offers only sleepable
// hooks), with the whole BPF_PROG stub when the SEC line is the last thing written; hook names and
// argument lists inside BPF_PROG(|); and snippets for a program and a whole probe file on a fresh line.
import { CompletionItem, CompletionItemKind, CompletionItemTag, CompletionList, InsertTextFormat, MarkupKind, Position, Range } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { Hook, HookCatalog, hookSignature } from '../shared/hooks/catalog';
import { bpfProgArgs, bpfProgStub, probeFile, ProgMacro, progMacro } from '../shared/hooks/stub';
import { inComment, ProbeDocument } from './probeDocument';

const SEC_CONTEXT = /\bSEC\s*\(\s*"(lsm|lsm\.s)\/(\w*)$/;
const PROG_CONTEXT = /\bBPF_PROG(2?)\s*\(\s*(\w*)$/;
const SEC_KIND_CONTEXT = /\bSEC\s*\(\s*"([\w.]*)$/;

/** Per-hook strings, built once per catalog: completion runs per keystroke and lists up to every hook. */
interface HookTexts {
  readonly detail: string;
  readonly stub: string;
  readonly args: string;
}
const texts = new WeakMap<Hook, HookTexts>();

function textsOf(h: Hook): HookTexts {
  let t = texts.get(h);
  if (!t) {
    t = { detail: hookDetail(h), stub: bpfProgStub(h, { snippet: true }), args: bpfProgArgs(h) };
    texts.set(h, t);
  }
  return t;
}

export function hookDetail(h: Hook): string {
  const flags: string[] = [];
  if (h.disabled) flags.push('disabled for BPF on this kernel');
  if (h.returnRule === 'void') flags.push('void hook: observes, cannot deny');
  if (h.returnRule === 'bool') flags.push('returns 0/1');
  if (h.sleepable) flags.push('sleepable');
  return `${hookSignature(h)}${flags.length ? ` — ${flags.join(', ')}` : ''}`;
}

/**
 * Fuzzy pre-filter: the typed characters appear in order in the name. Looser than any client's own
 * matching, so nothing the editor would show is dropped; it only keeps 271 snippets off the wire.
 */
export function matchesTyped(name: string, typed: string): boolean {
  let j = 0;
  for (let i = 0; i < name.length && j < typed.length; i++) if (name[i] === typed[j]) j++;
  return j === typed.length;
}

export interface CompleteOptions {
  /** Offer the fresh-line program and probe-file snippets (only in probe files, not in every C file). */
  readonly snippets?: boolean;
  /**
   * The client takes a list-wide edit range and insert format (LSP 3.17 `itemDefaults`, as VS Code does):
   * hook lists then carry each hook's name and only what differs from it, not ~270 copies of one range.
   */
  readonly itemDefaults?: boolean;
}

/**
 * A hook list: every item replaces `range`, inserting `newText(h)` in the given format. With item defaults
 * the range and format are said once and an item carries its text only when it is not the label; the
 * label is the hook's name, which is also how completionItem/resolve finds the hook. Enabled hooks sort by
 * name (the label), disabled ones after them (`~`), a preferred one first (`!`).
 */
function hookList(
  hooks: Iterable<Hook>,
  range: Range,
  format: InsertTextFormat,
  newText: (h: Hook) => string,
  opts: CompleteOptions,
  extra?: (h: Hook, item: CompletionItem) => void,
): CompletionList {
  const items: CompletionItem[] = [];
  for (const h of hooks) {
    const text = newText(h);
    const item: CompletionItem = { label: h.name, kind: CompletionItemKind.Function, detail: textsOf(h).detail };
    if (h.disabled) {
      item.sortText = `~${h.name}`;
      item.tags = [CompletionItemTag.Deprecated];
    }
    if (!opts.itemDefaults) {
      item.textEdit = { range, newText: text };
      if (format !== InsertTextFormat.PlainText) item.insertTextFormat = format;
    } else if (text !== h.name) {
      item.textEditText = text;
    }
    extra?.(h, item);
    items.push(item);
  }
  const list: CompletionList = { isIncomplete: false, items };
  if (opts.itemDefaults) list.itemDefaults = { editRange: range, insertTextFormat: format };
  return list;
}

function* matching(hooks: readonly Hook[], typed: string, keep: (h: Hook) => boolean = () => true): Iterable<Hook> {
  for (const h of hooks) if (keep(h) && matchesTyped(h.name, typed)) yield h;
}

export function complete(catalog: HookCatalog, doc: TextDocument, probe: ProbeDocument, pos: Position, opts: CompleteOptions = { snippets: true }): CompletionList {
  const lineText = doc.getText(Range.create(pos.line, 0, pos.line + 1, 0)).replace(/\r?\n$/, '');
  const before = lineText.slice(0, pos.character);
  const after = lineText.slice(pos.character);

  // Nothing inside comments; inside strings only the SEC name (the two SEC contexts below are strings).
  if (inComment(probe, doc.offsetAt(pos))) return { isIncomplete: false, items: [] };
  const sec = SEC_CONTEXT.exec(before);
  if (sec) return secCompletions(catalog, doc, pos, sec[1] as 'lsm' | 'lsm.s', sec[2], after, opts);

  const kind = SEC_KIND_CONTEXT.exec(before);
  if (kind) return secKindCompletions(pos, kind[1]);

  if (insideString(before)) return { isIncomplete: false, items: [] };
  const prog = PROG_CONTEXT.exec(before);
  if (prog) return progCompletions(catalog, doc, probe, pos, prog[2], after, { macro: prog[1] ? 'BPF_PROG2' : 'BPF_PROG', start: prog.index }, opts);

  const fresh = /^(\w*)$/.exec(before);
  if (opts.snippets && fresh && !insideBody(probe, doc.offsetAt(pos))) return freshLineCompletions(catalog, probe, pos, fresh[1]);
  return { isIncomplete: false, items: [] };
}

function secCompletions(catalog: HookCatalog, doc: TextDocument, pos: Position, kind: 'lsm' | 'lsm.s', typed: string, after: string, opts: CompleteOptions): CompletionList {
  const start = Position.create(pos.line, pos.character - typed.length);
  const tailWord = /^\w*/.exec(after)![0];
  // "Fresh": nothing but the closing `")` follows on this line and no program head follows the SEC.
  const tail = /^\w*"?\s*\)?\s*$/.test(after);
  const nextLines = doc.getText(Range.create(pos.line + 1, 0, pos.line + 4, 0));
  const fresh = tail && !/^\s*(int|void|long|BPF_PROG|static|__\w+)\b/.test(nextLines.replace(/^\s*\n/gm, ''));
  const end = Position.create(pos.line, pos.character + (fresh ? after.length : tailWord.length));
  const hooks = matching(catalog.hooks, typed, kind === 'lsm.s' ? (h) => h.sleepable : undefined);
  return fresh
    ? hookList(hooks, Range.create(start, end), InsertTextFormat.Snippet, (h) => `${h.name}")\n${textsOf(h).stub}`, opts)
    : hookList(hooks, Range.create(start, end), InsertTextFormat.PlainText, (h) => h.name, opts);
}

/** `SEC("|`: the two LSM program types; picking one opens hook completion right away. */
function secKindCompletions(pos: Position, typed: string): CompletionList {
  const range = Range.create(Position.create(pos.line, pos.character - typed.length), pos);
  const kinds: Array<[string, string]> = [
    ['lsm/', 'BPF LSM program: runs in the hook, can deny (int hooks)'],
    ['lsm.s/', 'sleepable BPF LSM program: may fault and sleep (bpf_d_path, bpf_ima_*, bpf_copy_from_user); sleepable hooks only'],
  ];
  return {
    isIncomplete: false,
    items: kinds.map(([label, detail], i) => ({
      label,
      kind: CompletionItemKind.Keyword,
      detail,
      sortText: `${i}`,
      textEdit: { range, newText: label },
      command: { title: 'Suggest hooks', command: 'editor.action.triggerSuggest' },
    })),
  };
}

/** An odd number of unescaped double quotes before the cursor on this line: the cursor is inside a string. */
function insideString(before: string): boolean {
  const quotes = before.replace(/\\./g, '').replace(/'[^']*'/g, '').split('"').length - 1;
  return quotes % 2 === 1;
}

function progCompletions(
  catalog: HookCatalog,
  doc: TextDocument,
  probe: ProbeDocument,
  pos: Position,
  typed: string,
  after: string,
  written: { macro: ProgMacro; start: number },
  opts: CompleteOptions,
): CompletionList {
  const offset = doc.offsetAt(pos);
  const start = Position.create(pos.line, pos.character - typed.length);
  const tailWord = /^\w*/.exec(after)![0];
  // With nothing but `)` after the cursor, the whole argument list is inserted; else only the name.
  const whole = /^\w*\)?\s*(\{?\s*)$/.test(after);
  const closing = /^\w*\)/.test(after);
  const end = Position.create(pos.line, pos.character + tailWord.length + (whole && closing ? 1 : 0));
  // The SEC line right above tells which hook this program is for; offer it first.
  const sec = [...probe.secs].reverse().find((s) => s.hookEnd <= offset);
  const attachedHook = sec && !probe.progs.some((p) => p.argsStart > sec.hookEnd && p.argsStart < offset - typed.length) ? sec.hook : undefined;
  const macroRange = Range.create(pos.line, written.start, pos.line, written.start + written.macro.length);
  return hookList(matching(catalog.hooks, typed), Range.create(start, end), InsertTextFormat.PlainText, (h) => (whole ? `${textsOf(h).args})` : h.name), opts, (h, item) => {
    if (h.name === attachedHook) {
      item.sortText = `!${h.name}`;
      item.preselect = true;
    }
    // The whole list for a hook with a struct passed by value is BPF_PROG2's: the macro name changes too.
    const macro = progMacro(h);
    if (whole && macro !== written.macro) item.additionalTextEdits = [{ range: macroRange, newText: macro }];
  });
}

function freshLineCompletions(catalog: HookCatalog, probe: ProbeDocument, pos: Position, typed: string): CompletionList {
  const range = Range.create(Position.create(pos.line, pos.character - typed.length), pos);
  const items: CompletionItem[] = [];
  const example = catalog.get('file_open') ?? catalog.hooks.find((h) => !h.disabled && h.returnRule === 'errno');
  items.push({
    label: 'lsm program',
    kind: CompletionItemKind.Snippet,
    detail: 'SEC("lsm/<hook>") and its BPF_PROG with the kernel\'s arguments',
    documentation: { kind: MarkupKind.Markdown, value: 'Inserts `SEC("lsm/")` and opens hook completion; picking a hook inserts the whole program.' },
    filterText: 'lsm program SEC',
    sortText: '~lsm1',
    insertTextFormat: InsertTextFormat.Snippet,
    textEdit: { range, newText: 'SEC("lsm/$0")' },
    command: { title: 'Suggest hooks', command: 'editor.action.triggerSuggest' },
  });
  if (probe.secs.length === 0 && example) {
    items.push({
      label: 'lsm probe file',
      kind: CompletionItemKind.Snippet,
      detail: `A complete BPF-LSM probe (${example.name}): includes, GPL license, program`,
      filterText: 'lsm probe file',
      sortText: '~lsm2',
      insertTextFormat: InsertTextFormat.Snippet,
      textEdit: { range, newText: probeFile(example, { snippet: true }) },
    });
  }
  return { isIncomplete: false, items };
}

function insideBody(probe: ProbeDocument, offset: number): boolean {
  return probe.progs.some((p) => p.bodyStart !== undefined && offset > p.bodyStart && offset <= (p.bodyEnd ?? Infinity));
}
