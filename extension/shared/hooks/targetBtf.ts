// The target kernel's BTF and banner, read over any exec channel (ssh to a host, the VM, or local), for
// the hook catalog. /sys/kernel/btf/vmlinux is world-readable, so this needs no root and no helper;
// base64 keeps the bytes intact through text-only channels.
import { Btf } from '../btf/btf';

/** Prints the banner line (`/proc/version`), then the BTF as one line of base64. */
export const TARGET_BTF_SCRIPT = 'cat /proc/version && base64 -w0 /sys/kernel/btf/vmlinux';

export interface TargetBtf {
  /** `/proc/version` of the target: the kernel version for the sleepable/disabled rules. */
  readonly banner: string;
  readonly btf: Buffer;
}

/** The shape of Target.exec (extension/core/target.ts), so this module stays independent of it. */
export type ExecFn = (
  program: string,
  args: readonly string[],
  options?: { timeoutMs?: number },
) => Promise<{ stdout: string; stderr: string; exitCode: number }>;

export async function fetchTargetBtf(exec: ExecFn, what: string, timeoutMs = 60_000): Promise<TargetBtf> {
  const r = await exec('sh', ['-c', TARGET_BTF_SCRIPT], { timeoutMs });
  if (r.exitCode !== 0) {
    const why = r.stderr.trim().split('\n').pop() || `exit code ${r.exitCode}`;
    throw new Error(`cannot read the kernel BTF of ${what}: ${why}. The target kernel needs CONFIG_DEBUG_INFO_BTF=y (/sys/kernel/btf/vmlinux); or set bpfLsm.btfPath to a copy of its BTF.`);
  }
  const nl = r.stdout.indexOf('\n');
  const banner = nl < 0 ? '' : r.stdout.slice(0, nl).trim();
  const btf = Buffer.from(r.stdout.slice(nl + 1).trim(), 'base64');
  // Parsing validates it (magic, header, type section) and says what is wrong if the transfer broke it.
  new Btf(btf, `BTF of ${what}`);
  return { banner, btf };
}
