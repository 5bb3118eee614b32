// SPDX-License-Identifier: GPL-2.0-only
// Types of the libbpf binding (native/src/binding.cc). Hand-written: the addon is the only source of truth,
// so keep this file in step with binding.cc. Program and map listings are the helper protocol's ProgramInfo
// and MapInfo (declared once, in extension/shared/helperProtocol.ts), which the addon fills field for field.
import type { MapInfo, ProgramInfo } from '../extension/shared/helperProtocol';

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

export type NativeProgram = ProgramInfo;

/** A map as the wire describes it, plus its BTF type ids (meaningful only with this object's BTF). */
export interface NativeMap extends MapInfo {
  btfKeyTypeId: number;
  btfValueTypeId: number;
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
  /** One result per program of load's `attach` list (empty without one). */
  attached: NativeAttachResult[];
}

export declare class BpfObject {
  private constructor();
  static openFile(path: string): BpfObject;
  static openBuffer(bytes: Buffer, name: string): BpfObject;
  readonly name: string;
  readonly loaded: boolean;
  programs(): NativeProgram[];
  maps(): NativeMap[];
  /**
   * The object's raw BTF blob (as libbpf finalised it at open: section sizes and variable offsets filled in);
   * TypeScript describes globals and map types from it (extension/shared/btf/describe.ts). Throws ENOENT
   * when the object has no BTF.
   */
  btf(): Buffer;
  setAutoload(program: string, autoload: boolean): void;
  /** Before load: any global. After load: only .bss/.data (written live into the kernel map). */
  setGlobal(name: string, value: Buffer): void;
  getGlobal(name: string): Buffer;
  /** Rejects with a LoadError. logLevel 0 still captures the log of a rejected program. */
  /**
   * `attach`: programs to attach as part of the load. LSM programs among them are attached on a second
   * thread while later programs still load (the two kernel phases overlap); the others after the load.
   * A failed load leaves none of them attached.
   * `cpus`: the load (and that second thread) may run on CPUs 0..cpus-1 whatever this process's affinity,
   * which is put back afterwards; for a helper that keeps its threads on one CPU. Omitted or 0: unchanged.
   */
  load(logLevel: 0 | 1 | 2, logSize: number, attach?: readonly string[], cpus?: number): Promise<NativeLoadResult>;
  /** Each program is attached independently; one failure does not undo the others. */
  attach(programs: string[]): Promise<NativeAttachResult[]>;
  detach(programs: string[]): Promise<NativeAttachResult[]>;
  /** Pins an attached program's link so it outlives this process (path must be on a bpffs). */
  pinLink(program: string, path: string): void;
  /** Drops this object's reference to a pinned link: the pin alone holds it, and unpinning it detaches it. */
  forgetLink(program: string): void;
  /** Pins a loaded program itself, so that it stays loaded while its links come and go. */
  pinProgram(program: string, path: string): void;
  /** Before load: reuse the map pinned at `path` (same type and sizes), or create it and pin it there. */
  setMapPinPath(map: string, path: string): void;
  /** Before load: false leaves `map` out of the load (not created; its fd stays -1), for a map this opener never uses. */
  setMapAutocreate(map: string, autocreate: boolean): void;
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
   * Indexes the kernel's LSM hooks (its bpf_lsm_* functions) once per process, off the main thread; every
   * SEC("lsm/...") and SEC("lsm.s/...") load finds its target there (native/src/lsmattach.cc), and builds the
   * index itself when nobody asked earlier. Resolves to the number of hooks; rejects when the kernel's BTF
   * cannot be read.
   */
  indexLsmHooks(): Promise<number>;
  /**
   * For each [programPath, linkPath], in order: attaches the program pinned at programPath (an LSM, fentry or
   * tp_btf/raw_tp program, which names its hook) and pins its link at linkPath; unpinning that link detaches
   * it again. Runs on the thread pool; rejects with a NativeError at the first failure (the ones before stay
   * attached and pinned).
   */
  attachPinnedPrograms(pairs: ReadonlyArray<readonly [string, string]>): Promise<void>;
  /**
   * Removes each link pinned at these paths, in order, and detaches it before resolving (an unlink alone
   * may leave the detach to a kernel worker). A path with nothing pinned is skipped; one whose pin is not a
   * link rejects (the ones before are gone). Resolves to how many links were removed.
   */
  detachPinnedLinks(paths: readonly string[]): Promise<number>;
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
