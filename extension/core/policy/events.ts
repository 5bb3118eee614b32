// Events of bpf/exec_block.bpf.c (struct exec_block_event), decoded by member name from the object's own
// BTF, so the C struct can grow or move fields without a hand-kept offset table here.
import { cString, eventLayout } from './eventLayout';
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
  const o = eventLayout(object, 'exec_block', 'exec_block_event', ['time_ns', 'ino', 'dev', 'pid', 'uid', 'action', 'matched', 'comm', 'path'] as const);
  return (b) => ({
    timeNs: b.readBigUInt64LE(o.time_ns),
    ino: b.readBigUInt64LE(o.ino),
    dev: b.readBigUInt64LE(o.dev),
    pid: b.readUInt32LE(o.pid),
    uid: b.readUInt32LE(o.uid),
    mode: b.readUInt32LE(o.action) === ACTION_DENY ? 'enforce' : 'audit',
    matchedBy: ({ [KIND_INODE]: 'inode', [KIND_CONTENT]: 'content' } as const)[b.readUInt32LE(o.matched)] ?? 'path',
    comm: cString(b, o.comm, 16),
    path: cString(b, o.path, 256),
  });
}
