// Target ids and construction: `local`, `vm` (the built-in VM with its default 6.1 kernel), `vm:<kernel>`
// (e.g. `vm:6.12`), `ssh:<host>`, or `auto` (local when this kernel runs BPF-LSM programs, else the built-in VM).
import { readFileSync } from 'node:fs';
import { Target } from '../target';
import { LocalTarget } from './local';
import { sshTarget } from './remote';
import { isSafeSshHost } from './sshHost';
import { isVmTarget, VM_TARGET, vmKernelOfTarget, vmTargetFor } from './vm';

import { VmKernel, vmKernels } from '../vm/kernels';

export { isSafeSshHost };

export type TargetSpec = { kind: 'local' } | { kind: 'vm'; kernel: VmKernel } | { kind: 'ssh'; host: string } | { kind: 'auto' };

export { isVmTarget, vmForTarget, vmTargetChoices, VM_TARGET } from './vm';

export function parseTargetId(id: string): TargetSpec {
  const t = id.trim();
  if (t === 'local' || t === 'auto') return { kind: t };
  if (isVmTarget(t)) return { kind: 'vm', kernel: vmKernelOfTarget(t) };
  if (t.startsWith('ssh:')) {
    const host = t.slice(4);
    if (!isSafeSshHost(host)) throw new Error(`"${id}" names no usable ssh host; use ssh:<host> with a host from your ~/.ssh/config (letters, digits, '.', '-', '_', an optional user@)`);
    return { kind: 'ssh', host };
  }
  throw new Error(`unknown target "${id}"; use local, vm, vm:<kernel> (${vmKernels().join(', ')}), ssh:<host> or auto`);
}

/** The built-in VM kernel a target id names (`vm` -> 6.1, `vm:6.12` -> 6.12), or undefined for other targets. */
export function vmKernelOf(id: string): VmKernel | undefined {
  try {
    const spec = parseTargetId(id);
    return spec.kind === 'vm' ? spec.kernel : undefined;
  } catch {
    return undefined;
  }
}

/** Whether this kernel can run BPF-LSM programs: bpf must be in the active LSM list. */
export function localKernelRunsBpfLsm(lsmFile = '/sys/kernel/security/lsm'): boolean {
  try {
    return readFileSync(lsmFile, 'utf8').trim().split(',').includes('bpf');
  } catch {
    // securityfs not mounted or not Linux: we cannot tell, so we do not bet the user's session on it.
    return false;
  }
}

export function resolveTargetId(id: string): string {
  const spec = parseTargetId(id);
  if (spec.kind !== 'auto') return id.trim();
  return process.platform === 'linux' && localKernelRunsBpfLsm() ? 'local' : VM_TARGET;
}

export function createTarget(id: string): Target {
  const resolved = resolveTargetId(id);
  const spec = parseTargetId(resolved);
  switch (spec.kind) {
    case 'local':
      return new LocalTarget();
    case 'vm':
      return vmTargetFor(resolved);
    case 'ssh':
      return sshTarget(spec.host);
    case 'auto':
      throw new Error('unreachable: auto resolves to local or vm');
  }
}

/** Host aliases from ~/.ssh/config (without wildcard patterns), for the target picker. */
export function sshConfigHosts(config: string): string[] {
  const hosts: string[] = [];
  for (const line of config.split('\n')) {
    const m = /^\s*Host\s*[=\s]\s*(.+)$/i.exec(line.replace(/#.*/, ''));
    if (!m) continue;
    for (const h of m[1].split(/\s+/)) {
      if (h && !/[*?!]/.test(h) && !hosts.includes(h)) hosts.push(h);
    }
  }
  return hosts;
}
