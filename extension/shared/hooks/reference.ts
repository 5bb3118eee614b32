// The hook reference: what hover shows on a hook name, the tracing panel's hook reference document and
// `bpf-lsm hooks --reference` print, rendered from one place so that all three say the same for the same
// hook and kernel. Markdown for hover; the same text without markup (plainText) in the C header of the
// panel's `bpf-lsm-hook:/<hook>.h` document and on the CLI.
import { Hook, HookCatalog, hookSignature } from './catalog';
import { formatKernelVersion } from './kernelVersion';
import { SLEEPABLE_ONLY_HELPERS } from './rules';
import { bpfProgStub, secLine } from './stub';

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
  lines.push(`LSM hook \`${h.name}\` · category **${h.category}** · kernel ${catalog.kernelLabel}${catalog.kernel.versionSource === 'unknown' ? ` (version unknown${catalog.kernel.atLeast ? `, ${formatKernelVersion(catalog.kernel.atLeast)} or later by its BTF` : ''}: facts that depend on it say from which version)` : ''}`);
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
  if (h.sleepableWhen) lines.push('', `(Sleepable ${h.sleepableWhen}; the kernel's version is unknown.)`);
  lines.push('');
  lines.push(h.disabled ? `**Disabled:** yes — the verifier refuses BPF programs on this hook${h.disabledWhen ? ` ${h.disabledWhen}` : ''} (${h.disabledSource}).` : '**Disabled:** no');
  lines.push('', '---', '', ...docsMarkdown(catalog, h));
  return lines.join('\n');
}

/** The reference without Markdown: fences, emphasis and code ticks dropped, the rest verbatim. */
export function plainText(markdown: string): string {
  return markdown
    .split('\n')
    .filter((l) => !/^```/.test(l) && l !== '---')
    .map((l) => l.replace(/\*\*([^*]+)\*\*/g, '$1').replace(/`([^`]+)`/g, '$1'))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * `bpf-lsm-hook:/<hook>.h`: the reference as a read-only C header (its comment is plainText of the hover),
 * then the signature and a program stub. An unknown hook gets a header that says why.
 */
export function hookReferenceHeader(catalog: HookCatalog | undefined, hook: string, error?: string): string {
  const safe = (text: string): string => text.replace(/\*\//g, '* /');
  const h = catalog?.get(hook);
  if (!catalog || !h) {
    const why = error ? `the hook catalog could not be read: ${error}` : `${catalog?.kernelLabel ?? 'this kernel'} has no LSM hook of that name`;
    return `/*\n * LSM hook ${safe(hook)}\n *\n * No reference available: ${safe(why)}.\n * Set bpfLsm.btfPath to the target kernel's BTF to see its signature.\n */\n`;
  }
  const comment = safe(plainText(hookMarkdown(catalog, h))).split('\n').map((l) => ` * ${l}`.trimEnd());
  return ['/*', ...comment, ' */', `${hookSignature(h)};`, '', '/* A BPF-LSM program on this hook: */', secLine(h), bpfProgStub(h), ''].join('\n');
}

/** The comment body of a header from hookReferenceHeader, as plain text (for comparing with plainText of a hover). */
export function headerComment(header: string): string {
  const end = header.indexOf('\n */');
  return header
    .slice(0, end)
    .split('\n')
    .slice(1)
    .map((l) => l.replace(/^ \*( |$)/, ''))
    .join('\n');
}
