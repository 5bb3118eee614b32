// Target ids and construction: `local`, `vm`, `ssh:<host>`, or `auto` (local when this kernel runs BPF-LSM
// programs, else the built-in VM).
import { readFileSync } from 'node:fs';
import { Target } from '../target';
import { LocalTarget } from './local';
import { sshTarget } from './remote';
import { vmTarget } from './vm';

export type TargetSpec = { kind: 'local' } | { kind: 'vm' } | { kind: 'ssh'; host: string } | { kind: 'auto' };

export function parseTargetId(id: string): TargetSpec {
  const t = id.trim();
  if (t === 'local' || t === 'vm' || t === 'auto') return { kind: t };
  if (t.startsWith('ssh:')) {
    const host = t.slice(4);
    if (!host || host.startsWith('-') || /\s/.test(host)) throw new Error(`"${id}" names no usable ssh host; use ssh:<host> with a host from your ~/.ssh/config`);
    return { kind: 'ssh', host };
  }
  throw new Error(`unknown target "${id}"; use local, vm, ssh:<host> or auto`);
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
  return process.platform === 'linux' && localKernelRunsBpfLsm() ? 'local' : 'vm';
}

export function createTarget(id: string): Target {
  const spec = parseTargetId(resolveTargetId(id));
  switch (spec.kind) {
    case 'local':
      return new LocalTarget();
    case 'vm':
      return vmTarget();
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
