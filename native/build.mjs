// SPDX-License-Identifier: GPL-2.0-only
// Native half of `npm run build`, called from extension/build.mjs:
//   - the libbpf binding (node-gyp) copied to dist/native/bpflsm.node
//   - bpf/*.bpf.c compiled with CO-RE into dist/bpf/*.bpf.o against a vmlinux.h generated from this
//     machine's BTF into .cache/bpf (never committed)
//   - bench/*.c consumers linked with -lbpf into dist/bench/
// Every step is skipped when its outputs are newer than its inputs, so a warm build costs milliseconds.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

class MissingTool extends Error {}

function mtime(p) {
  return existsSync(p) ? statSync(p).mtimeMs : 0;
}

function newest(files) {
  return Math.max(0, ...files.map(mtime));
}

function filesIn(dir, test) {
  return existsSync(dir) ? readdirSync(dir).filter(test).map((f) => join(dir, f)) : [];
}

function which(tool) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

function need(tool, debianPackages) {
  const found = which(tool);
  if (!found) throw new MissingTool(`${tool} is not installed; install it with: apt-get install ${debianPackages}`);
  return found;
}

function run(file, args, options = {}) {
  try {
    return execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20, ...options });
  } catch (err) {
    const out = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim();
    throw new Error(`${file} ${args.join(' ')} failed:\n${out || err.message}`);
  }
}

function buildAddon(root) {
  const dir = join(root, 'native');
  const built = join(dir, 'build', 'Release', 'bpflsm.node');
  const shipped = join(root, 'dist', 'native', 'bpflsm.node');
  const inputs = [join(dir, 'binding.gyp'), ...filesIn(join(dir, 'src'), (f) => /\.(cc|h|hh)$/.test(f))];
  if (mtime(built) < newest(inputs)) {
    if (!existsSync('/usr/include/bpf/libbpf.h')) {
      throw new MissingTool('libbpf headers are missing; install them with: apt-get install libbpf-dev libelf-dev zlib1g-dev');
    }
    need('g++', 'g++ make python3');
    need('make', 'make');
    const gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
    // N-API is ABI-stable, so any Node's headers do; prefer the ones installed next to this node so the
    // build works offline (npm passes npm_config_nodedir when it is configured).
    const args = [gyp, 'rebuild', '--silent'];
    const besideNode = dirname(dirname(process.execPath));
    const nodedir = process.env.npm_config_nodedir ?? (existsSync(join(besideNode, 'include', 'node', 'node_api.h')) ? besideNode : undefined);
    if (nodedir) args.push(`--nodedir=${nodedir}`);
    run(process.execPath, args, { cwd: dir });
  }
  if (mtime(shipped) < mtime(built)) {
    mkdirSync(dirname(shipped), { recursive: true });
    // Copy then rename: a helper starting during the build never loads a half-written addon.
    copyFileSync(built, `${shipped}.tmp`);
    renameSync(`${shipped}.tmp`, shipped);
  }
}

function buildBpf(root) {
  const sources = filesIn(join(root, 'bpf'), (f) => f.endsWith('.bpf.c'));
  const headers = filesIn(join(root, 'bpf'), (f) => f.endsWith('.h'));
  const cache = join(root, '.cache', 'bpf');
  const vmlinuxH = join(cache, 'vmlinux.h');
  const outDir = join(root, 'dist', 'bpf');
  const stale = sources.filter((src) => {
    const out = join(outDir, src.slice(src.lastIndexOf('/') + 1).replace(/\.c$/, '.o'));
    return mtime(out) < Math.max(mtime(src), newest(headers), mtime(vmlinuxH));
  });
  if (stale.length === 0 && existsSync(vmlinuxH)) return;
  const clang = need('clang', 'clang llvm');
  if (!existsSync(vmlinuxH)) {
    const bpftool = need('bpftool', 'bpftool');
    const btf = process.env.BPF_LSM_BUILD_BTF ?? '/sys/kernel/btf/vmlinux';
    if (!existsSync(btf)) {
      throw new MissingTool(`${btf} is missing, so vmlinux.h cannot be generated; build on a kernel with CONFIG_DEBUG_INFO_BTF=y or set BPF_LSM_BUILD_BTF to a BTF file`);
    }
    mkdirSync(cache, { recursive: true });
    writeFileSync(`${vmlinuxH}.tmp`, run(bpftool, ['btf', 'dump', 'file', btf, 'format', 'c']));
    renameSync(`${vmlinuxH}.tmp`, vmlinuxH);
  }
  mkdirSync(outDir, { recursive: true });
  const strip = which('llvm-strip') ?? which('llvm-strip-14');
  for (const src of stale.length ? stale : sources) {
    const out = join(outDir, src.slice(src.lastIndexOf('/') + 1).replace(/\.c$/, '.o'));
    run(clang, ['-g', '-O2', '-Wall', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-I${cache}`, `-I${join(root, 'bpf')}`, '-c', src, '-o', `${out}.tmp`]);
    // DWARF is only bulk here; BTF (kept by strip -g) is what libbpf and the decoders read.
    if (strip) run(strip, ['-g', `${out}.tmp`]);
    renameSync(`${out}.tmp`, out);
  }
}

function buildBenchConsumers(root) {
  const sources = filesIn(join(root, 'bench'), (f) => f.endsWith('.c'));
  if (sources.length === 0) return;
  const outDir = join(root, 'dist', 'bench');
  const cache = join(root, '.cache', 'bpf');
  // C consumers use libbpf skeletons of the built objects (the object is embedded in the binary).
  const objects = filesIn(join(root, 'dist', 'bpf'), (f) => f.endsWith('.bpf.o'));
  for (const obj of objects) {
    const skel = join(cache, obj.slice(obj.lastIndexOf('/') + 1).replace(/\.bpf\.o$/, '.skel.h'));
    if (mtime(skel) >= mtime(obj)) continue;
    const bpftool = need('bpftool', 'bpftool');
    const name = obj.slice(obj.lastIndexOf('/') + 1).replace(/\.bpf\.o$/, '_bpf');
    writeFileSync(`${skel}.tmp`, run(bpftool, ['gen', 'skeleton', obj, 'name', name]));
    renameSync(`${skel}.tmp`, skel);
  }
  for (const src of sources) {
    const out = join(outDir, src.slice(src.lastIndexOf('/') + 1).replace(/\.c$/, ''));
    if (mtime(out) >= newest([src, ...objects, ...filesIn(join(root, 'bpf'), (f) => f.endsWith('.h'))])) continue;
    const cc = which('cc') ?? need('clang', 'clang');
    mkdirSync(outDir, { recursive: true });
    run(cc, ['-O2', '-Wall', `-I${cache}`, `-I${join(root, 'bpf')}`, src, '-o', out, '-lbpf', '-lelf', '-lz']);
  }
}

/**
 * Several builds may run at once in one checkout (watch mode, test runs); node-gyp rebuild and the object
 * writes are not safe to interleave, so one build at a time holds a lock directory. A lock whose owner
 * process is gone is taken over.
 */
function withLock(root, fn) {
  const lock = join(root, '.cache', 'native-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // the owner is between mkdir and writing its pid
      }
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`native build: another build has held ${lock} for 10 minutes; remove it if no build is running`);
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Builds everything native; throws an Error naming the Debian packages to install when a tool is missing. */
export function buildNative(root) {
  const started = Date.now();
  try {
    withLock(root, () => {
      buildAddon(root);
      buildBpf(root);
      buildBenchConsumers(root);
    });
  } catch (err) {
    if (err instanceof MissingTool) throw new Error(`native build: ${err.message}`);
    throw err;
  }
  return Date.now() - started;
}

// `npm run build:native` runs this file directly.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const ms = buildNative(fileURLToPath(new URL('..', import.meta.url)));
    console.log(`native build done in ${ms} ms`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
