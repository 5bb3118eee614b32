// The language server under load, on this host's BTF (6.18), over the LSP protocol on stdio:
//   burst    a document of 5,000 programs (~0.7 MB) gets 200 back-to-back full-text changes, then a
//            completion: how long it waits (goal < 2 s), when the last version's diagnostics arrive,
//            and the server's RSS;
//   misspelt 5,000 SECs with misspelt hooks: the server's work per keystroke (parse + every check,
//            in process, as the debounced check runs it; goal < 200 ms);
//   latency  completion and hover p50/p99 on a 60 KB document of 200 programs (goal p99 < 5 ms).
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { complete } from '../extension/server/completion';
import { diagnose } from '../extension/server/diagnostics';
import { hover } from '../extension/server/hover';
import { parseProbeDocument } from '../extension/server/probeDocument';
import { catalogFromFile } from '../extension/shared/hooks/catalog';
import { SLEEPABLE_ONLY_HELPERS } from '../extension/shared/hooks/rules';
import { LspClient, positionOf } from '../test/fixtures/lspClient';

const BTF = process.env.BPF_LSM_BENCH_BTF || '/sys/kernel/btf/vmlinux';
const HOOKS = ['file_open', 'bprm_check_security', 'inode_permission', 'socket_connect', 'task_alloc', 'file_mprotect', 'path_unlink', 'file_permission'];
const HEADS: Record<string, string> = {
  file_open: 'struct file *file, int ret',
  bprm_check_security: 'struct linux_binprm *bprm, int ret',
  inode_permission: 'struct inode *inode, int mask, int ret',
  socket_connect: 'struct socket *sock, struct sockaddr *address, int addrlen, int ret',
  task_alloc: 'struct task_struct *task',
  file_mprotect: 'struct vm_area_struct *vma, unsigned long reqprot, unsigned long prot, int ret',
  path_unlink: 'const struct path *dir, struct dentry *dentry, int ret',
  file_permission: 'struct file *file, int mask, int ret',
};

/** A probe file of `n` programs, each a realistic few lines; `misspell` breaks every hook name. */
function probeDocument(n: number, misspell = false, extra: string[] = []): string {
  const out = ['#include "vmlinux.h"', '#include <bpf/bpf_helpers.h>', '#include <bpf/bpf_tracing.h>', '', 'char LICENSE[] SEC("license") = "GPL";', ''];
  for (let i = 0; i < n; i++) {
    const hook = HOOKS[i % HOOKS.length];
    const name = misspell ? `${hook.slice(0, 3)}x${hook.slice(4)}${i}` : hook;
    out.push(
      `/* program ${i}: counts calls */`,
      `SEC("lsm/${name}")`,
      `int BPF_PROG(prog_${i}, ${HEADS[hook]})`,
      '{',
      `\tu32 key = ${i % 64};`,
      ...extra,
      '\treturn 0;',
      '}',
      '',
    );
  }
  out.push('SEC("lsm/file_o")', '');
  return out.join('\n');
}

function stats(samples: number[]): { p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}

function rssMiB(pid: number | undefined): string {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    return `${(kb / 1024).toFixed(0)} MiB`;
  } catch {
    return 'unknown';
  }
}

async function burst(): Promise<void> {
  const text = probeDocument(5000);
  const client = await LspClient.start({ btfPath: BTF });
  try {
    const uri = 'file:///bench-burst.bpf.c';
    await client.open(uri, text);
    await client.diagnosticsFor(uri, 120_000);
    console.log(`burst: document of 5,000 programs, ${(text.length / 1e6).toFixed(2)} MB; server RSS after the first check ${rssMiB(client.pid)}`);
    const pos = positionOf(text, 'SEC("lsm/file_o")', 15);
    const t0 = performance.now();
    // 200 full-text changes back to back, as a formatter or a paste-and-undo storm sends them.
    const sent: Array<Promise<void>> = [];
    for (let i = 0; i < 200; i++) sent.push(client.change(uri, text.replace('counts calls', `counts calls ${i}`)));
    await Promise.all(sent);
    const t1 = performance.now();
    const list = await client.complete(uri, pos.line, pos.character);
    const wait = performance.now() - t1;
    console.log(`burst: writing the 200 changes (${((200 * text.length) / 1e6).toFixed(0)} MB of JSON) took the client ${(t1 - t0).toFixed(0)} ms`);
    if (!list.items.some((x) => x.label === 'file_open')) throw new Error('completion after the burst lost file_open');
    const diags = await client.diagnosticsFor(uri, 120_000);
    const last = performance.now() - t0;
    console.log(`burst: completion after 200 back-to-back changes answered in ${wait.toFixed(0)} ms  goal < 2000 ms: ${wait < 2000 ? 'met' : 'MISSED'}`);
    console.log(`burst: the last version's diagnostics (${diags.length}) arrived ${last.toFixed(0)} ms after the burst began; server RSS ${rssMiB(client.pid)}`);
  } finally {
    await client.stop();
  }
}

function misspelt(): void {
  const catalog = catalogFromFile(BTF);
  const helpers = Object.keys(SLEEPABLE_ONLY_HELPERS);
  let text = probeDocument(5000, true);
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  let reported = 0;
  for (let k = 0; k < 30; k++) {
    // A keystroke in one SEC name: every other misspelt name is unchanged.
    text = text.replace('SEC("lsm/filxopen0', `SEC("lsm/filxopen0${k % 10}`);
    const doc = TextDocument.create('file:///bench-misspelt.bpf.c', 'c', k + 1, text);
    const t = performance.now();
    const cpu = process.cpuUsage();
    reported = diagnose(catalog, doc, parseProbeDocument(text, helpers)).length;
    const used = process.cpuUsage(cpu);
    samples.push(performance.now() - t);
    cpuSamples.push((used.user + used.system) / 1000);
  }
  const s = stats(samples.slice(1));
  const c = stats(cpuSamples.slice(1));
  // CPU time next to wall time: on a shared machine the wall clock also counts other processes' turns.
  console.log(`misspelt: 5,000 unknown hooks (${reported} diagnostics), per keystroke in process: first ${samples[0].toFixed(0)} ms, then wall p50 ${s.p50.toFixed(1)} ms max ${s.max.toFixed(1)} ms, CPU p50 ${c.p50.toFixed(1)} ms max ${c.max.toFixed(1)} ms  goal < 200 ms: ${s.max < 200 ? 'met' : c.max < 200 ? 'met in CPU time, not in wall time on this loaded host' : 'MISSED'}`);
}

async function latency(): Promise<void> {
  const text = probeDocument(200, false, ['\tif (key > 32)', '\t\tbpf_printk("high key %d in program", key);', '\telse', '\t\tbpf_printk("low key %d in program", key);', '\t/* the verdict of earlier programs wins */', '\tif (ret != 0)', '\t\treturn ret;']);
  const client = await LspClient.start({ btfPath: BTF });
  try {
    const uri = 'file:///bench-latency.bpf.c';
    await client.open(uri, text);
    await client.diagnosticsFor(uri, 30_000);
    const secPos = positionOf(text, 'SEC("lsm/file_o")', 15);
    const progPos = positionOf(text, 'BPF_PROG(prog_1,', 9);
    const hoverPos = positionOf(text, 'lsm/bprm_check_security', 6);
    const c: number[] = [];
    const p: number[] = [];
    const h: number[] = [];
    for (let i = 0; i < 1200; i++) {
      const t0 = performance.now();
      await client.complete(uri, secPos.line, secPos.character);
      const t1 = performance.now();
      await client.complete(uri, progPos.line, progPos.character);
      const t2 = performance.now();
      const hv = await client.hover(uri, hoverPos.line, hoverPos.character);
      const t3 = performance.now();
      if (!hv) throw new Error('hover lost bprm_check_security');
      if (i >= 200) {
        c.push(t1 - t0);
        p.push(t2 - t1);
        h.push(t3 - t2);
      }
    }
    console.log(`latency: ${(text.length / 1024).toFixed(0)} KB document, 200 programs, 1,000 requests each over LSP stdio (after 200 warm-up)`);
    for (const [label, st] of [['completion in SEC("lsm/file_o|")', stats(c)], ['completion in BPF_PROG(|', stats(p)], ['hover on a SEC hook name', stats(h)]] as const) {
      console.log(`  ${label.padEnd(34)} p50 ${st.p50.toFixed(2)} ms  p99 ${st.p99.toFixed(2)} ms  max ${st.max.toFixed(2)} ms  goal p99 < 5 ms: ${st.p99 < 5 ? 'met' : 'MISSED'}`);
    }
    // The server's own work for the same requests, in process (a new version each time: parse included).
    const catalog = catalogFromFile(BTF);
    const helpers = Object.keys(SLEEPABLE_ONLY_HELPERS);
    const doc = TextDocument.create(uri, 'c', 1, text);
    const hoverAt = doc.offsetAt(hoverPos);
    const ic: number[] = [];
    const ip: number[] = [];
    const ih: number[] = [];
    for (let i = 0; i < 1200; i++) {
      const t0 = performance.now();
      complete(catalog, doc, parseProbeDocument(text, helpers), secPos);
      const t1 = performance.now();
      complete(catalog, doc, parseProbeDocument(text, helpers), progPos);
      const t2 = performance.now();
      hover(catalog, doc, parseProbeDocument(text, helpers), hoverAt);
      const t3 = performance.now();
      if (i >= 200) {
        ic.push(t1 - t0);
        ip.push(t2 - t1);
        ih.push(t3 - t2);
      }
    }
    console.log('  in process, parse of the document included (the server parses once per version):');
    for (const [label, st] of [['completion in SEC("lsm/file_o|")', stats(ic)], ['completion in BPF_PROG(|', stats(ip)], ['hover on a SEC hook name', stats(ih)]] as const) {
      console.log(`  ${label.padEnd(34)} p50 ${st.p50.toFixed(2)} ms  p99 ${st.p99.toFixed(2)} ms  max ${st.max.toFixed(2)} ms  goal p99 < 5 ms: ${st.p99 < 5 ? 'met' : 'MISSED'}`);
    }
  } finally {
    await client.stop();
  }
}

async function main(): Promise<void> {
  console.log(`BTF: ${BTF}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
  await burst();
  misspelt();
  await latency();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
