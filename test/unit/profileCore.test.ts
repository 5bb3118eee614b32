// The profile enforcement probe relocates (CO-RE) against both kernels the built-in VM runs: every field
// access in dist/bpf/profile_guard.bpf.o finds its match in Debian's 6.1 and 6.12 BTF (libbpf, through
// bpftool gen min_core_btf, which computes each relocation against the given BTF and fails on a miss).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debian612Vmlinux, debian61Vmlinux } from '../fixtures/kernels';

const object = join(__dirname, '..', '..', '..', 'dist', 'bpf', 'profile_guard.bpf.o');

describe('profile_guard CO-RE', function () {
  this.timeout(600_000);
  for (const [label, vmlinux] of [['6.1', debian61Vmlinux], ['6.12', debian612Vmlinux]] as const) {
    it(`relocates every field access against Debian ${label} BTF`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'bls-core-'));
      try {
        const r = spawnSync('bpftool', ['-d', 'gen', 'min_core_btf', vmlinux(), join(dir, 'min.btf'), object], { encoding: 'utf8' });
        const log = `${r.stdout}${r.stderr}`;
        assert.equal(r.status, 0, log.split('\n').slice(-15).join('\n'));
        const relos = new Set([...log.matchAll(/prog '([^']+)': relo #(\d+): </g)].map((m) => `${m[1]}#${m[2]}`));
        const matched = new Set([...log.matchAll(/prog '([^']+)': relo #(\d+): matching candidate/g)].map((m) => `${m[1]}#${m[2]}`));
        assert.ok(relos.size >= 10, `${relos.size} relocations seen`);
        assert.deepEqual([...relos].filter((x) => !matched.has(x)), [], 'relocations without a matching candidate');
        for (const prog of ['bprm_check_security', 'file_open', 'socket_connect']) assert.ok([...relos].some((x) => x.includes(prog)), `${prog} has relocations`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
