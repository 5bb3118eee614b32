// Opens BPF objects from the client in a disposable child process before the helper opens them itself.
// libbpf 1.1 (Debian 12) crashes with SIGSEGV or abort() on some corrupted objects: the hardening fuzz
// (test/unit/fuzz.test.ts) found ~1.4% of objects with 4 random bytes changed doing so. In the helper that
// would end the whole session; in the child it only fails the one request, with a clear error. The child
// runs as the user who started the helper, lives as long as the session, and is restarted after a crash.
//
// The child does what loading will do before the kernel is involved: open, list programs and maps, describe
// map and global types, read every global and write it back. A check that takes longer than the timeout
// (a libbpf loop on a crafted object) kills the child and fails the request like a crash does.
//
// Child protocol: the helper writes u32 LE length + object bytes; the child answers one JSON line
// { ok: true } or { ok: false, message }. `node helper.js --check-objects` is the child.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { NativeBinding } from '../../native/index';
import { Btf } from '../shared/btf/btf';
import { mapTypes, objectGlobals } from '../shared/btf/describe';

export const CHECK_OBJECTS_FLAG = '--check-objects';

/** Digests of objects the child opened without crashing, remembered per checker (most recent last). */
const REMEMBERED = 32;

/** What a checker remembers an object by. */
const digestOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Opening the 10,000-program fuzz object takes ~2 s in the TCG VM; a check 15 times that long is stuck. */
export const CHECK_TIMEOUT_MS = 30_000;

/** The child side: reads objects from stdin, opens each with libbpf and walks what the helper will read. */
export function runObjectCheckChild(loadNative: () => NativeBinding): void {
  const native = loadNative();
  let buffered = Buffer.alloc(0);
  process.stdin.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32LE(0)) {
      const size = buffered.readUInt32LE(0);
      const bytes = buffered.subarray(4, 4 + size);
      buffered = buffered.subarray(4 + size);
      let answer: { ok: boolean; message?: string };
      try {
        const o = native.BpfObject.openBuffer(Buffer.from(bytes), 'object');
        o.programs();
        const maps = o.maps();
        let btf: Btf | undefined;
        try {
          btf = new Btf(o.btf());
        } catch {
          // No BTF, or BTF the parser refuses: the helper reports that itself; only a crash matters here.
        }
        if (btf) {
          for (const m of maps) mapTypes(btf, m);
          for (const g of objectGlobals(btf, maps)) o.setGlobal(g.name, o.getGlobal(g.name));
        }
        void o.close();
        answer = { ok: true };
      } catch (err) {
        // An open that fails cleanly is the helper's to report (it opens the object itself next).
        answer = { ok: true, message: (err as Error).message };
      }
      process.stdout.write(`${JSON.stringify(answer)}\n`);
    }
  });
  process.stdin.once('end', () => process.exit(0));
}

export class ObjectChecker {
  private child: ChildProcess | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set when the child cannot run at all (e.g. the addon is unreadable as the user): checks are skipped. */
  private unavailable = false;
  /**
   * Objects that passed, by SHA-256: libbpf's open is deterministic, so the same bytes need no second check.
   * A resident tracer loaded again in one VM boot (after tracer stop or another selection) skips its check,
   * which costs 140-230 ms in the TCG guest for the 1.2 MB tracer (hashing it: ~10 ms).
   */
  private readonly passed: string[] = [];

  constructor(
    private readonly command: { program: string; args: string[]; uid?: number; gid?: number },
    private readonly timeoutMs = CHECK_TIMEOUT_MS,
  ) {}

  /** Resolves when libbpf can open the object without crashing; rejects with the crash otherwise. */
  check(bytes: Buffer): Promise<void> {
    const digest = digestOf(bytes);
    if (this.passed.includes(digest)) return Promise.resolve();
    const run = this.queue.then(() => this.checkOne(bytes, digest));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Starts the child ahead of the first check: a node start costs ~1.4 s in the TCG VM, while a client
   * spends seconds between hello and its first load (reading BTF, compiling), so it is ready by then.
   */
  warm(): void {
    if (!this.closed && !this.unavailable) this.start();
  }

  private start(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return this.child;
    const { program, args, uid, gid } = this.command;
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'ignore'], ...(uid !== undefined ? { uid, gid } : {}) });
    child.stdin?.on('error', () => undefined);
    // Kept for the child's whole life: a spawn failure while nobody waits (after warm()) must not become an
    // uncaught exception in the helper.
    child.on('error', () => {
      this.unavailable = true;
    });
    child.stdout?.setEncoding('utf8');
    this.child = child;
    return child;
  }

  /** Whether these bytes passed a check already (they are not checked again). */
  remembers(bytes: Buffer): boolean {
    return this.passed.includes(digestOf(bytes));
  }

  private checkOne(bytes: Buffer, digest: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the session is ending'));
    if (this.unavailable) return Promise.resolve();
    const child = this.start();
    return new Promise<void>((resolve, reject) => {
      let line = '';
      const timer = setTimeout(() => {
        cleanup();
        // The next check starts a fresh child.
        child.kill('SIGKILL');
        if (this.child === child) this.child = undefined;
        reject(new Error(`libbpf did not finish opening it within ${this.timeoutMs / 1000} s; the object is malformed or too large`));
      }, this.timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
      };
      const onData = (text: string) => {
        line += text;
        if (!line.includes('\n')) return;
        cleanup();
        this.passed.push(digest);
        if (this.passed.length > REMEMBERED) this.passed.shift();
        resolve();
      };
      const onExit = (_code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        if (signal) return reject(new Error(`libbpf crashed while opening it (${signal}); the object is malformed`));
        // Not a crash: the child could not start its work. The check is a guard against crashes, not a
        // permission, so loads go on without it rather than failing for an unrelated reason.
        this.unavailable = true;
        resolve();
      };
      const onError = () => {
        cleanup();
        this.unavailable = true;
        resolve();
      };
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
      const size = Buffer.alloc(4);
      size.writeUInt32LE(bytes.length, 0);
      child.stdin?.write(size);
      child.stdin?.write(bytes);
    });
  }

  close(): void {
    this.closed = true;
    this.child?.stdin?.end();
    this.child = undefined;
  }
}
