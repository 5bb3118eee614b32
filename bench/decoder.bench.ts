// Tracer decoder throughput: a batch of typical records in the native RingConsumer framing (file opens
// with walked paths, permission checks, mmap, connects, syscall enter/exit pairs), decoded repeatedly.
// Prints records/s and MB/s for the mix and for each record type alone. Target: > 1M records/s.
import { catalogFromFile } from '../extension/shared/hooks/catalog';
import { TraceDecoder } from '../extension/shared/tracer/decoder';
import { generateTracer } from '../extension/shared/tracer/generate';
import { PathSource } from '../extension/shared/tracer/layout';
import type { DecoderTables } from '../extension/shared/tracer/tables';
import { encodeHook, encodeSysEnter, encodeSysExit, frameBatch } from '../test/fixtures/tracer/encoder';

const SYSCALLS = { 0: 'read', 2: 'open', 9: 'mmap', 42: 'connect', 257: 'openat' };

function records(tables: DecoderTables): Record<string, Uint8Array[]> {
  const file = (i: number) => ({
    path: { components: ['usr', 'lib', 'x86_64-linux-gnu', `libc${i % 7}.so.6`], src: PathSource.mounts },
    path_src: PathSource.mounts,
    f_mode: 0x1d,
    f_flags: 0o2100000,
    ino: 131000 + i,
    i_mode: 0o100755,
  });
  const inode = (i: number) => ({ ino: 2000 + i, mode: 0o100644, uid: 1000, gid: 1000, dev: (8 << 20) | 1, size: 4096, ctime: 1700000000 + i });
  const h = (i: number) => ({ pid: 1000 + (i % 4), tgid: 1000, cpu: i % 2, comm: 'bench-proc', time: 5_000_000_000 + i * 1000 });
  return {
    'syscall enter/exit': [encodeSysEnter(257, [-100n, 0x7ffd1234n, 0o2000000n, 0n, 0n, 0n], h(0)), encodeSysExit(257, 3n, h(0))],
    'file_open (path walk)': [0, 1, 2].map((i) => encodeHook(tables, 'file_open', { file: file(i) }, h(i))),
    'inode_permission': [0, 1].map((i) => encodeHook(tables, 'inode_permission', { inode: inode(i), mask: 0x24 }, h(i))),
    'mmap_file': [encodeHook(tables, 'mmap_file', { file: file(3), reqprot: 5, prot: 5, flags: 0x802 }, h(3))],
    'socket_connect': [
      encodeHook(tables, 'socket_connect', { sock: { family: 2, type: 1, protocol: 6 }, address: { family: 2, port: 443, addr4: 0x0100007f }, addrlen: 16 }, h(4)),
    ],
  };
}

function bench(name: string, dec: TraceDecoder, batch: Uint8Array, count: number): void {
  const out: unknown[] = [];
  // Warm up so the JIT has compiled the per-hook closures.
  for (let i = 0; i < 3; i++) dec.decodeBatch(batch, out as never[]).length = 0;
  let decoded = 0;
  let rounds = 0;
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let elapsed = 0;
  while (elapsed < 1.5) {
    out.length = 0;
    decoded += dec.decodeBatch(batch, out as never[]).length;
    rounds++;
    elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  }
  const used = process.cpuUsage(cpu0);
  // On a shared machine wall time includes other processes; CPU time of this process does not.
  const cpuSec = (used.user + used.system) / 1e6;
  if (decoded !== rounds * count) throw new Error(`${name}: decoded ${decoded}, expected ${rounds * count}`);
  const perSec = decoded / elapsed;
  const perCpuSec = decoded / cpuSec;
  const mb = (batch.length * rounds) / cpuSec / 1e6;
  console.log(
    `${name.padEnd(24)} ${(perSec / 1e6).toFixed(2).padStart(6)} M records/s wall  ${(perCpuSec / 1e6).toFixed(2).padStart(6)} M records/CPU-s  ${mb.toFixed(0).padStart(5)} MB/CPU-s  (${(batch.length / count).toFixed(0)} B/record)`,
  );
}

const catalog = catalogFromFile('/sys/kernel/btf/vmlinux');
const t0 = performance.now();
const gen = generateTracer(catalog, { syscalls: SYSCALLS });
console.log(`generate: ${gen.hooks.length} hooks in ${(performance.now() - t0).toFixed(0)} ms (kernel ${gen.kernel})`);
const t1 = performance.now();
new TraceDecoder(gen.tables);
console.log(`decoder construction: ${(performance.now() - t1).toFixed(1)} ms`);

const sets = records(gen.tables);
// Measure real work: the records must decode to what was encoded.
const probe = new TraceDecoder(gen.tables).decode(sets['file_open (path walk)'][0]);
const probeFile = probe?.kind === 'hook' ? (probe.args.file as { path?: string } | null) : null;
if (probeFile?.path !== '/usr/lib/x86_64-linux-gnu/libc0.so.6') throw new Error(`bench records decode wrongly: ${JSON.stringify(probe)}`);
const N = 20_000;
const mix: Uint8Array[] = [];
const order = Object.values(sets).flat();
for (let i = 0; mix.length < N; i++) mix.push(order[i % order.length]);
bench('mix', new TraceDecoder(gen.tables), frameBatch(mix), mix.length);
for (const [name, recs] of Object.entries(sets)) {
  const list: Uint8Array[] = [];
  for (let i = 0; list.length < N; i++) list.push(recs[i % recs.length]);
  bench(name, new TraceDecoder(gen.tables), frameBatch(list), list.length);
}
