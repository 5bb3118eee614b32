// `bpf-lsm hooks`: prints the LSM hook catalog of a kernel, read from its BTF.
import { release } from 'node:os';
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { catalogFromFile, hookSignature, HookCatalog } from '../shared/hooks/catalog';
import { findHookDocs, writePackagedDocs } from '../shared/hooks/docs';
import { attachKernelDocs, DEFAULT_BTF } from '../shared/hooks/kernelDocs';
import { hookReferenceHeader } from '../shared/hooks/reference';

const usage = `usage: bpf-lsm hooks [--btf PATH] [--kernel VERSION] [--kernel-source DIR] [--json] [--no-docs] [--export-docs FILE]
       bpf-lsm hooks --reference HOOK [--btf PATH] [--kernel VERSION] [--kernel-source DIR]

Prints every LSM hook of a kernel with its signature, whether BPF programs on it may sleep (lsm.s/),
whether the kernel refuses BPF programs on it, and its category.

  --btf PATH            BTF to read: raw BTF (default ${DEFAULT_BTF}) or a vmlinux / ELF with .BTF
  --kernel VERSION      kernel version for the sleepable/disabled rules (e.g. 6.1.192) when PATH does
                        not carry it (raw BTF other than the running kernel's)
  --kernel-source DIR   kernel source or headers tree to read hook documentation from
                        (default: the running kernel's build tree, then /usr/src/linux*)
  --no-docs             do not look for documentation
  --export-docs FILE    write the documentation found to FILE (JSON) instead of printing the catalog;
                        the package step ships it as dist/hook-docs.json for machines without sources
  --reference HOOK      print the hook's reference: what hover and the tracing panel show for it (the
                        kernel's documentation from sources, else from Debian's packages, fetched once)
  --json                print a JSON array of { name, returns, params: [{ name, type }], sleepable,
                        disabled, category, doc? }`;

export const hooksCommand: Subcommand = {
  name: 'hooks',
  summary: "print the target kernel's LSM hook catalog",
  usage,
  async run(argv) {
    const args = parseArgs(argv, { btf: { value: true }, kernel: { value: true }, 'kernel-source': { value: true }, json: {}, 'no-docs': {}, 'export-docs': { value: true }, reference: { value: true } });
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
    if (args.flags.has('no-docs') && args.flags.has('export-docs')) throw new UsageError('--export-docs needs documentation; drop --no-docs');
    const btfPath = (args.flags.get('btf') as string | undefined) ?? DEFAULT_BTF;
    const kernel = args.flags.get('kernel') as string | undefined;
    const catalog = catalogFromFile(btfPath, { kernel });
    const reference = args.flags.get('reference') as string | undefined;
    if (reference !== undefined) {
      // The language server's docs lookup, waited for: the same text hover shows for this kernel.
      const docs = attachKernelDocs(catalog, { btfPath, kernelSourcePath: args.flags.get('kernel-source') as string | undefined, bundleDir: __dirname, log: (m) => console.error(m) });
      await docs.fetching;
      process.stdout.write(hookReferenceHeader(catalog, reference));
      return catalog.has(reference) ? 0 : 1;
    }
    if (!args.flags.has('no-docs')) {
      const local = btfPath === DEFAULT_BTF ? release() : catalog.kernel.description?.match(/\d+\.\d+\S*/)?.[0];
      const found = findHookDocs(args.flags.get('kernel-source') as string | undefined, local, new Set(catalog.hooks.map((h) => h.name)));
      const documented = catalog.attachDocs(found.docs);
      const exportTo = args.flags.get('export-docs') as string | undefined;
      if (exportTo) {
        if (found.docs.size === 0) {
          console.error('bpf-lsm hooks: no hook documentation found; pass --kernel-source with a kernel tree or linux-headers "common" tree');
          return 1;
        }
        writePackagedDocs(exportTo, found);
        console.error(`wrote docs for ${found.docs.size} hooks (${documented} of this kernel's ${catalog.hooks.length}) to ${exportTo}`);
        return 0;
      }
    }
    if (args.flags.has('json')) {
      process.stdout.write(`${JSON.stringify(catalog.toJson(), null, 2)}\n`);
      return 0;
    }
    process.stdout.write(formatTable(catalog));
    return 0;
  },
};

function formatTable(catalog: HookCatalog): string {
  const lines: string[] = [];
  const ints = catalog.hooks.filter((h) => h.returnRule !== 'void').length;
  const note = catalog.kernel.versionSource === 'unknown' ? ' (version unknown: newest sleepable/disabled rules assumed; pass --kernel)' : '';
  lines.push(`# ${catalog.hooks.length} LSM hooks (${ints} int, ${catalog.hooks.length - ints} void) on ${catalog.kernelLabel}${note}`);
  lines.push('# flags: s = sleepable (lsm.s/ allowed), D = disabled for BPF');
  const width = Math.max(...catalog.hooks.map((h) => h.category.length));
  for (const h of catalog.hooks) {
    const flags = `${h.sleepable ? 's' : '-'}${h.disabled ? 'D' : '-'}`;
    lines.push(`${flags} ${h.category.padEnd(width)}  ${hookSignature(h)}`);
  }
  return `${lines.join('\n')}\n`;
}
