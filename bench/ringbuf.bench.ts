// Ring buffer throughput: probe -> ring buffer -> helper -> client, side by side with a minimal C libbpf
// consumer, in the same VM run. The probe (bpf/ringbuf_bench.bpf.c) emits BURST 64-byte records per
// getpgid() of a generator process that loops for SECONDS; every consumer gets the same generator.
//   C        bench/ringbuf_consumer.c in the VM (libbpf ring_buffer__poll, one callback per record)
//   C+pipe   the same, also framing each record and writing the frames to another process (the hop the
//            helper cannot avoid), plus the VM's raw pipe throughput for scale
//   helper   the helper in the VM with the client also in the VM (the protocol path without ssh)
//   host/chan   the helper in the VM with the client on this machine, the stream on a VM helper channel
//               (what the extension does with the built-in VM)
//   host/ssh    the same through the ssh session (what an ssh: target does)
// Each line also proves accounting: received + dropped-in-kernel == emitted, and helper drops are reported.
// The in-VM consumers run BENCH_ROUNDS (3) alternating rounds and the medians are compared; the host lines run
// once. Boots the VM when it is not running (and stops it again); BENCH_SECONDS and BENCH_BURST override;
// BENCH_WALK=1 makes the JavaScript clients visit every record (as a decoder would) instead of counting.
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { HelperClient } from '../extension/core/helperClient';
import { helperBundle } from '../extension/core/targets/deploy';
import { vmTarget } from '../extension/core/targets/vm';
import { GUEST_HELPER_ROOT } from '../extension/core/vm/image';
import { iterateRecords, RECORD_HEADER_SIZE } from '../extension/shared/helperFrames';
import { startHelperProcess } from '../test/fixtures/helperProcess';
import { withBenchVm } from './benchVm';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const BURST = Number(process.env.BENCH_BURST ?? 64);
const WALK = process.env.BENCH_WALK === '1';
const BATCH_BYTES = Number(process.env.BENCH_BATCH_BYTES ?? 1 << 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REMOTE_DIR = '/tmp/bpf-lsm-bench';

const rate = (m: Measurement) => m.records / m.seconds;
/** The run with the median rate (a whole run, so its accounting columns stay consistent). */
const median = (ms: Measurement[]) => [...ms].sort((a, b) => rate(a) - rate(b))[Math.floor(ms.length / 2)];

const PIPE_PROBE = `const t = process.hrtime.bigint();
require('child_process').execSync('dd if=/dev/zero bs=1M count=64 2>/dev/null | cat > /dev/null');
const s = Number(process.hrtime.bigint() - t) / 1e9;
console.log((64 * 1.048576 / s).toFixed(1) + ' MB/s');`;

interface Measurement {
  records: number;
  bytes: number;
  seconds: number;
  emitted: number;
  dropped: number;
  helperDropped?: number;
  batches?: number;
  outOfOrder?: number;
}

async function measureHelperPath(client: HelperClient, object: Buffer, generator: string): Promise<Measurement> {
  const loaded = await client.loadObject(object, { name: 'ringbuf_bench.bpf.o', globals: { burst: BURST } });
  const objectId = loaded.objectId;
  try {
    const attached = await client.call('attach', { objectId });
    const failed = attached.results.filter((r) => !r.ok);
    if (failed.length) throw new Error(`attach failed: ${failed.map((r) => r.message).join('; ')}`);
    const { pid } = await client.call('spawn', { argv: [generator, 'generate', String(SECONDS)] });
    const exited = new Promise<void>((resolve) =>
      client.onNotification('processExit', (p) => {
        if (p.pid === pid) resolve();
      }),
    );
    await client.call('setGlobal', { objectId, name: 'generator_tgid', value: pid });
    let records = 0;
    let bytes = 0;
    let batches = 0;
    let outOfOrder = 0;
    let lastSeq = -1n;
    const { sessionId, subscription } = await client.startTrace(
      { objectId, ringBuffers: ['bench_events'], counters: ['emitted', 'dropped'], maxBatchBytes: BATCH_BYTES },
      (batch) => {
        batches++;
        records += batch.count;
        if (!WALK) {
          // Like the C consumer, count without decoding: records are 64 bytes, so no padding in the frames.
          bytes += batch.records.length - batch.count * RECORD_HEADER_SIZE;
          return;
        }
        // BENCH_WALK=1: touch every record in JavaScript, as a decoder would, and check the sequence.
        for (const r of iterateRecords(batch.records)) {
          bytes += r.data.length;
          const seq = r.data.readBigUInt64LE(0);
          if (seq <= lastSeq) outOfOrder++;
          lastSeq = seq;
        }
      },
    );
    const started = performance.now();
    await client.call('resume', { pid });
    await exited;
    const stats = await client.call('stopTrace', { sessionId });
    const seconds = (performance.now() - started) / 1000;
    subscription.dispose();
    if (stats.records !== records) throw new Error(`helper sent ${stats.records} records, client received ${records}`);
    return {
      records,
      bytes,
      seconds,
      emitted: stats.counters.emitted,
      dropped: stats.counters.dropped,
      helperDropped: stats.helperDroppedRecords,
      batches,
      outOfOrder,
    };
  } finally {
    await client.call('unloadObject', { objectId }).catch(() => undefined);
  }
}

async function inVmClient(helperJs: string, objectPath: string, generator: string): Promise<void> {
  // A helper started as a child of this process (inside the VM, where we are root).
  const client = await HelperClient.connect(startHelperProcess(process.env, helperJs), { client: 'ringbuf-bench' });
  try {
    console.log(JSON.stringify(await measureHelperPath(client, readFileSync(objectPath), generator)));
  } finally {
    await client.close();
  }
}

function line(name: string, m: Measurement, baseline?: Measurement): string {
  const perSecond = rate(m);
  // `emitted` counts successful reserves only; reserve failures are `dropped` (accounted, in the kernel).
  const unaccounted = m.emitted - m.records - (m.helperDropped ?? 0);
  const parts = [
    name.padEnd(11),
    `${(perSecond / 1e3).toFixed(1).padStart(8)} k events/s`,
    `${(m.bytes / m.seconds / 1e6).toFixed(1).padStart(7)} MB/s`,
    `received ${m.records}`,
    `emitted ${m.emitted}`,
    `kernel drops ${m.dropped}`,
    ...(m.helperDropped !== undefined ? [`helper drops ${m.helperDropped}`] : []),
    `unaccounted ${unaccounted}`,
    ...(m.batches ? [`${m.batches} batches (${(m.records / m.batches).toFixed(0)} events/batch)`] : []),
    ...(m.outOfOrder ? [`out of order ${m.outOfOrder}`] : []),
    ...(baseline ? [`ratio to C ${(perSecond / rate(baseline)).toFixed(2)}`] : []),
  ];
  return parts.join('  ');
}

async function main(): Promise<void> {
  // This file runs as out/bench/ringbuf.bench.js.
  const root = join(__dirname, '..', '..');
  process.env.BPF_LSM_DIST ??= join(root, 'dist');
  await withBenchVm(root, async (status) => {
    const vm = vmTarget();
    const generator = `${REMOTE_DIR}/ringbuf_consumer`;
    await vm.copyTo([
      { local: join(root, 'dist', 'bench', 'ringbuf_consumer'), remote: generator },
      { local: join(root, 'dist', 'bpf', 'ringbuf_bench.bpf.o'), remote: `${REMOTE_DIR}/ringbuf_bench.bpf.o` },
      { local: __filename, remote: `${REMOTE_DIR}/ringbuf.bench.js` },
    ]);
    await (await vm.startHelper()).close();
    const remoteHelper = posix.join(GUEST_HELPER_ROOT, helperBundle().version, 'helper.js');
    console.log(`ring buffer throughput, ${SECONDS} s generator, ${BURST} records of 64 bytes per hook call, kernel ${status.kernelRelease ?? '(VM)'}`);

    const runC = async (): Promise<Measurement> => {
      const c = await vm.exec(generator, ['consume', String(SECONDS), String(BURST)], { timeoutMs: (SECONDS + 60) * 1000 });
      if (c.exitCode !== 0) throw new Error(`C consumer failed: ${c.stderr}`);
      return JSON.parse(c.stdout) as Measurement;
    };
    // The same C consumer handing every framed record to a second process through a pipe, as the helper
    // must: separates the cost of crossing a process boundary in this VM from the helper's own cost.
    const runCPipe = async (): Promise<Measurement> => {
      const fwd = await vm.exec('sh', ['-c', '"$0" consume "$1" "$2" forward | cat > /dev/null', generator, String(SECONDS), String(BURST)], {
        timeoutMs: (SECONDS + 60) * 1000,
      });
      const json = fwd.stderr.split('\n').find((l) => l.startsWith('{'));
      if (fwd.exitCode !== 0 || !json) throw new Error(`C forwarding consumer failed: ${fwd.stderr}`);
      return JSON.parse(json) as Measurement;
    };
    const runHelper = async (): Promise<Measurement> => {
      const env = [`BENCH_WALK=${WALK ? 1 : 0}`, `BENCH_SECONDS=${SECONDS}`, `BENCH_BURST=${BURST}`, `BENCH_BATCH_BYTES=${BATCH_BYTES}`];
      const r = await vm.exec('/usr/bin/env', [...env, '/usr/bin/node', `${REMOTE_DIR}/ringbuf.bench.js`, '--in-vm-client', remoteHelper, `${REMOTE_DIR}/ringbuf_bench.bpf.o`, generator], {
        timeoutMs: (SECONDS + 120) * 1000,
      });
      if (r.exitCode !== 0) throw new Error(`in-VM helper client failed: ${r.stderr}`);
      return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Measurement;
    };
    // Rounds alternate the consumers, so a change in load on the machine hits all of them alike; the
    // ratio is taken between medians.
    const runs: Record<'C libbpf' | 'C+pipe' | 'helper', Measurement[]> = { 'C libbpf': [], 'C+pipe': [], helper: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      runs['C libbpf'].push(await runC());
      runs['C+pipe'].push(await runCPipe());
      runs.helper.push(await runHelper());
      console.log(`round ${round}: ${Object.entries(runs).map(([k, v]) => `${k} ${(rate(v[v.length - 1]) / 1e3).toFixed(0)}k/s`).join(', ')}`);
    }
    const baseline = median(runs['C libbpf']);
    console.log(`medians of ${ROUNDS} round(s):`);
    console.log(line('C libbpf', baseline));
    console.log(line('C+pipe', median(runs['C+pipe']), baseline));
    console.log(line('helper', median(runs.helper), baseline));
    // Timed inside the VM by node (busybox dd and date print no sub-second figures).
    const dd = await vm.exec('/usr/bin/node', ['-e', PIPE_PROBE], { timeoutMs: 120_000 });
    console.log(`pipe ceiling in the VM (dd | cat, 64 MiB): ${dd.stdout.trim() || dd.stderr.trim()}`);

    // The extension's own path: the client on this machine, the helper's stream leaving the VM through a
    // helper channel (virtio-serial), then once more through the ssh session, as for an ssh: target.
    for (const [name, channels] of [['host/chan', '1'], ['host/ssh', '0']] as const) {
      process.env.BPF_LSM_VM_CHANNELS = channels;
      const transport = await vm.startHelper();
      const client = await HelperClient.connect(transport, { client: 'ringbuf-bench' });
      try {
        const m = await measureHelperPath(client, readFileSync(join(root, 'dist', 'bpf', 'ringbuf_bench.bpf.o')), generator);
        console.log(`${line(name, m, baseline)}  via ${transport.route ?? 'ssh'}`);
      } finally {
        await client.close();
      }
    }
  });
}

const args = process.argv.slice(2);
const run = args[0] === '--in-vm-client' ? inVmClient(args[1], args[2], args[3]) : main();
run.then(
  () => process.exit(0),
  (err) => {
    console.error(`ringbuf bench failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
