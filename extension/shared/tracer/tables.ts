// What the generator hands the decoder: plain JSON-safe data (it may cross to the helper's client or a
// webview), fully describing every record layout of one generated tracer.
import type { FormatName } from './formats';
import type { Store } from './layout';

export interface FieldTable {
  readonly name: string;
  readonly offset: number;
  readonly store: Store;
  readonly fmt: FormatName;
}

export interface ValueTable {
  readonly key: string;
  readonly size: number;
  /** Offset of the `present` byte (1 when the kernel pointer was not NULL). */
  readonly present: number;
  /** In table order (the order users read them), not in memory order. */
  readonly fields: readonly FieldTable[];
  readonly post?: 'path' | 'sockaddr' | 'bpf_attr';
}

/** How one hook argument is stored in its record. */
export type ArgTable =
  | { readonly name: string; readonly offset: number; readonly how: 'value'; readonly value: string }
  | { readonly name: string; readonly offset: number; readonly how: 'scalar'; readonly store: Store; readonly fmt: FormatName }
  | { readonly name: string; readonly offset: number; readonly how: 'string' }
  | { readonly name: string; readonly offset: number; readonly how: 'present' }
  | { readonly name: string; readonly offset: -1; readonly how: 'unread'; readonly reason: string };

export interface HookTable {
  readonly id: number;
  readonly name: string;
  readonly category: string;
  /** Whether the record's header `ret` means anything (int hooks). */
  readonly hasRet: boolean;
  /** Size of the fixed part (header + argument struct); strings follow. */
  readonly size: number;
  readonly args: readonly ArgTable[];
}

export interface DecoderTables {
  /** Generator version that produced the tables and the object: both must come from one generation. */
  readonly generator: string;
  readonly kernel: string;
  readonly hooks: readonly HookTable[];
  readonly values: Readonly<Record<string, ValueTable>>;
  /** enum name -> value -> enumerator, from the target's BTF (only enums the records use). */
  readonly enums: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Syscall number -> name for the target's architecture. */
  readonly syscalls: Readonly<Record<string, string>>;
}
