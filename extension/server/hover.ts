// Hover on a hook name (in a SEC string or as BPF_PROG's first argument): signature, what the return
// value means, sleepable and disabled status with their source, and the kernel's documentation.
// Hover on a sleepable-only helper call says why it needs lsm.s/. The hook text is the hook reference
// (shared/hooks/reference.ts) that the tracing panel and `bpf-lsm hooks --reference` show too.
import { Hover, MarkupKind } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { HookCatalog } from '../shared/hooks/catalog';
import { hookMarkdown } from '../shared/hooks/reference';
import { HOOK_GATED_HELPERS, SLEEPABLE_ONLY_HELPERS } from '../shared/hooks/rules';
import { ProbeDocument } from './probeDocument';

export function hover(catalog: HookCatalog, doc: TextDocument, probe: ProbeDocument, offset: number): Hover | null {
  for (const s of probe.secs) {
    if (offset >= s.hookStart && offset <= s.hookEnd) {
      const h = catalog.get(s.hook);
      if (!h) return null;
      return { contents: { kind: MarkupKind.Markdown, value: hookMarkdown(catalog, h) }, range: { start: doc.positionAt(s.hookStart), end: doc.positionAt(s.hookEnd) } };
    }
  }
  for (const [i, calls] of probe.helperCalls.entries()) {
    for (const call of calls) {
      if (offset < call.start || offset > call.end) continue;
      const sec = probe.progs[i].sec;
      let value: string;
      if (HOOK_GATED_HELPERS.has(call.name)) {
        const h = sec ? catalog.get(sec.hook) : undefined;
        const here = h ? ` This program's hook \`${h.name}\` ${h.sleepable ? 'is' : 'is **not**'} in that set on kernel ${catalog.kernelLabel}.` : '';
        value = `\`${call.name}\` is allowed in LSM programs whose **hook** is in the kernel's sleepable set, in \`SEC("lsm/...")\` and \`SEC("lsm.s/...")\` alike: ${SLEEPABLE_ONLY_HELPERS[call.name]}.${here}`;
      } else {
        const here = sec ? ` This program is \`SEC("${sec.kind}/${sec.hook}")\`${sec.kind === 'lsm.s' ? ', so it may call it.' : ', which is not sleepable.'}` : '';
        value = `\`${call.name}\` is only available to **sleepable** LSM programs (\`SEC("lsm.s/<hook>")\` on a sleepable hook): ${SLEEPABLE_ONLY_HELPERS[call.name]}.${here}`;
      }
      return { contents: { kind: MarkupKind.Markdown, value }, range: { start: doc.positionAt(call.start), end: doc.positionAt(call.end) } };
    }
  }
  for (const p of probe.progs) {
    if (offset >= p.name.start && offset <= p.name.end) {
      const h = catalog.get(p.name.text);
      if (!h) return null;
      return { contents: { kind: MarkupKind.Markdown, value: hookMarkdown(catalog, h) }, range: { start: doc.positionAt(p.name.start), end: doc.positionAt(p.name.end) } };
    }
  }
  return null;
}
