// Events of bpf/exec_block.bpf.c (struct exec_block_event), decoded by member name from the object's own
// BTF, so the C struct can grow or move fields without a hand-kept offset table here.
import { Btf, BtfKind } from '../../shared/btf/btf';
import { elfSection } from '../../shared/btf/elf';
import { ACTION_DENY, KIND_CONTENT, KIND_INODE, type PolicyMode } from './policy';

export interface ExecPolicyEvent {
  readonly timeNs: bigint;
  readonly pid: number;
  readonly uid: number;
  readonly comm: string;
  readonly path: string;
  readonly ino: bigint;
  readonly dev: bigint;
  /** What the rule did: the exec was denied (enforce) or only reported (audit). */
  readonly mode: PolicyMode;
  readonly matchedBy: 'path' | 'inode' | 'content';
}

export type ExecEventDecoder = (record: Buffer) => ExecPolicyEvent;

export function execEventDecoder(object: Uint8Array): ExecEventDecoder {
  const raw = elfSection(object, '.BTF');
  if (!raw) throw new Error('the exec_block object has no BTF; rebuild it with clang -g');
  const btf = new Btf(raw, 'exec_block BTF');
  const id = btf.find(BtfKind.Struct, 'exec_block_event');
  if (id === undefined) throw new Error('the exec_block object does not define struct exec_block_event');
  const at = new Map(btf.members(id).map((m) => [m.name, (m.bitOffset ?? 0) / 8]));
  const off = (name: string): number => {
    const o = at.get(name);
    if (o === undefined) throw new Error(`struct exec_block_event has no member ${name}`);
    return o;
  };
  const [time, ino, dev, pid, uid, action, matched, comm, path] = ['time_ns', 'ino', 'dev', 'pid', 'uid', 'action', 'matched', 'comm', 'path'].map(off);
  const cstr = (b: Buffer, start: number, max: number) => {
    const s = b.subarray(start, Math.min(b.length, start + max));
    const nul = s.indexOf(0);
    return s.toString('utf8', 0, nul < 0 ? s.length : nul);
  };
  return (b) => ({
    timeNs: b.readBigUInt64LE(time),
    ino: b.readBigUInt64LE(ino),
    dev: b.readBigUInt64LE(dev),
    pid: b.readUInt32LE(pid),
    uid: b.readUInt32LE(uid),
    mode: b.readUInt32LE(action) === ACTION_DENY ? 'enforce' : 'audit',
    matchedBy: ({ [KIND_INODE]: 'inode', [KIND_CONTENT]: 'content' } as const)[b.readUInt32LE(matched)] ?? 'path',
    comm: cstr(b, comm, 16),
    path: cstr(b, path, 256),
  });
}
