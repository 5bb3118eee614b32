// SPDX-License-Identifier: GPL-2.0-only
// Types of the libbpf binding (native/src/binding.cc). Hand-written: the addon is the only source of truth,
// so keep this file in step with binding.cc.

/** Errors thrown or rejected by the addon carry the errno and its symbolic name. */
export interface NativeError extends Error {
  code: string;
  errno: number;
}

/** A rejected load: the verifier log of the failing program and that program's name. */
export interface LoadError extends NativeError {
  log: string;
  program: string | null;
  truncated: boolean;
}

export interface NativeProgram {
  name: string;
  section: string;
  /** libbpf's name of the program type, e.g. "lsm". */
  type: string;
  attachType: string;
  /** What the section names after its first slash: for lsm/file_open, the hook "file_open". */
  attachTarget: string;
  autoload: boolean;
  loaded: boolean;
  attached: boolean;
  pinned: boolean;
  instructions: number;
}

export interface NativeMap {
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  /** Backs global variables (.rodata, .bss, .data, .kconfig). */
  internal: boolean;
}

export interface NativeAttachResult {
  program: string;
  ok: boolean;
  code?: string;
  errno?: number;
  message?: string;
}

export interface NativeLoadResult {
  /** Program name -> verifier log; only filled when a log level above 0 was asked for. */
  logs: Record<string, string>;
  truncated: boolean;
}

export declare class BpfObject {
  private constructor();
  static openFile(path: string): BpfObject;
  static openBuffer(bytes: Buffer, name: string): BpfObject;
  readonly name: string;
  readonly loaded: boolean;
  programs(): NativeProgram[];
  maps(): NativeMap[];
  /** JSON array of { name, section, offset, size, type } where type is a BTF type description. */
  globalsJson(): string;
  /** JSON { key, value } BTF type descriptions (null when the map has no BTF for it). */
  mapTypesJson(map: string): string;
  /** The object's raw BTF blob. */
  btf(): Buffer;
  setAutoload(program: string, autoload: boolean): void;
  /** Before load: any global. After load: only .bss/.data (written live into the kernel map). */
  setGlobal(name: string, value: Buffer): void;
  getGlobal(name: string): Buffer;
  /** Rejects with a LoadError. logLevel 0 still captures the log of a rejected program. */
  load(logLevel: 0 | 1 | 2, logSize: number): Promise<NativeLoadResult>;
  /** Each program is attached independently; one failure does not undo the others. */
  attach(programs: string[]): Promise<NativeAttachResult[]>;
  detach(programs: string[]): Promise<NativeAttachResult[]>;
  /** Pins an attached program's link so it outlives this process (path must be on a bpffs). */
  pinLink(program: string, path: string): void;
  /** Before load: reuse the map pinned at `path` (same type and sizes), or create it and pin it there. */
  setMapPinPath(map: string, path: string): void;
  /** After load: puts map `inner` of this object into the array/hash of maps `outer` under `key`. */
  setInnerMap(outer: string, key: Buffer, inner: string): void;
  mapLookup(map: string, key: Buffer): Buffer | null;
  mapUpdate(map: string, key: Buffer, value: Buffer, flags?: number): void;
  /** Resolves false when the key was not there. */
  mapDelete(map: string, key: Buffer): boolean;
  /** Up to `limit` entries after `start`; keys and values are packed back to back. */
  mapEntries(map: string, start: Buffer | null, limit: number): { count: number; more: boolean; keys: Buffer; values: Buffer };
  /** Detaches every link (pinned links stay), unloads programs and maps. */
  close(): Promise<void>;
}

/**
 * Consumes one or more BPF ring buffers of a loaded object in batches. Each poll returns every record that
 * is ready (up to about maxBytes) framed as: u32 length, u16 ring index (position in `maps`), u16 zero,
 * payload, zero padding to a multiple of 8.
 */
export declare class RingConsumer {
  constructor(object: BpfObject, maps: string[]);
  poll(timeoutMs: number, maxBytes: number): Promise<{ count: number; data: Buffer }>;
  /** Frees the rings now, or when a running poll returns. */
  close(): void;
}

export interface NativeBinding {
  BpfObject: typeof BpfObject;
  RingConsumer: typeof RingConsumer;
  libbpfVersion: string;
  recordHeaderSize: number;
  /**
   * Ends the process with _exit(code), skipping exit handlers: for a helper whose stdin is the VM's helper
   * channel, where a thread-pool read blocked on the port would otherwise keep exit() from returning.
   */
  exitNow(code: number): never;
  /** The file the addon was loaded from. */
  path: string;
}

/** Loads the addon once; throws an actionable Error (code NATIVE_ADDON_MISSING / NATIVE_ADDON_UNUSABLE). */
export declare function loadNative(): NativeBinding;
