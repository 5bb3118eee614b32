// Hover on a hook name (in a SEC string or as BPF_PROG's first argument): signature, what the return
// value means, sleepable and disabled status with their source, and the kernel's documentation.
// Hover on a sleepable-only helper call says why it needs lsm.s/.
import { Hover, MarkupKind } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { Hook, HookCatalog, hookSignature } from '../shared/hooks/catalog';
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

export function returnRuleText(h: Hook): string {
  switch (h.returnRule) {
    case 'void':
      return 'void hook: the kernel ignores the program\'s result, so a program here can observe but **cannot deny**.';
    case 'bool':
      return 'a yes/no hook: return **0 or 1** (not an errno). The verifier enforces the range from 6.12.';
    default:
      return 'return **0 to allow**, a **negative errno to deny** (e.g. `-EPERM`). `int ret` (last BPF_PROG argument) carries the verdict of programs that ran before.';
  }
}

/** The kernel's text for the hook, headed by where it comes from; without it, why and what to do. */
export function docsMarkdown(catalog: HookCatalog, h: Hook): string[] {
  const o = catalog.docsOrigin;
  if (!h.doc || !o) return [`**Kernel documentation:** ${catalog.docsNote ?? (o ? `none for ${h.name} in ${o.source}.` : 'none found.')}`];
  const which = o.series ? (o.exact ? ` for ${o.series}` : ` from ${o.series}, the nearest version available to ${catalog.kernelLabel}`) : '';
  return [`**Kernel documentation**${which} (${o.source})`, '', '```text', h.doc, '```'];
}

export function hookMarkdown(catalog: HookCatalog, h: Hook): string {
  const lines: string[] = [];
  lines.push('```c', `${hookSignature(h)};`, '```');
  lines.push(`LSM hook \`${h.name}\` · category **${h.category}** · kernel ${catalog.kernelLabel}${catalog.kernel.versionSource === 'unknown' ? ' (version unknown: newest rules assumed)' : ''}`);
  lines.push('');
  lines.push(`**Returns:** ${returnRuleText(h)}`);
  lines.push('');
  const helpers = Object.keys(SLEEPABLE_ONLY_HELPERS).map((n) => `\`${n}\``).join(', ');
  lines.push(
    h.sleepable
      ? `**Sleepable:** yes — \`SEC("lsm.s/${h.name}")\` may use the sleepable-only helpers (${helpers}).`
      : `**Sleepable:** no — use \`SEC("lsm/${h.name}")\`; the sleepable-only helpers (${helpers}) are not available here.`,
  );
  lines.push('');
  lines.push(h.disabled ? `**Disabled:** yes — the verifier refuses BPF programs on this hook (${h.disabledSource}).` : '**Disabled:** no');
  lines.push('', '---', '', ...docsMarkdown(catalog, h));
  return lines.join('\n');
}
