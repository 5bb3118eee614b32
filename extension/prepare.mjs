// Makes a fresh Debian/Ubuntu machine ready for a job: the Debian packages it needs and the npm
// dependencies. README's commands run it first, so they hold on a clean machine; .ci/run runs it too.
//   node extension/prepare.mjs [build] [vm] [e2e] [--all]
// As root it installs what is missing with apt-get; otherwise it prints the exact command to run and fails.
// Plain JavaScript with no dependencies: it runs before `npm ci`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Debian packages by the job that needs them. */
export const DEBIAN_PACKAGES = {
  // the native libbpf addon (node-gyp), BPF objects (clang -target bpf, vmlinux.h from bpftool), and
  // Debian kernel packages unpacked for BTF and docs (the unit tier's reference kernels, the VM's kernel)
  build: ['build-essential', 'python3', 'clang', 'llvm', 'bpftool', 'libbpf-dev', 'libelf-dev', 'zlib1g-dev', 'pkg-config', 'xz-utils', 'zstd'],
  // the built-in BPF-LSM VM: qemu under TCG, an initramfs with busybox and sshd (strace: the benchmarks' baseline)
  vm: ['qemu-system-x86', 'busybox-static', 'openssh-server', 'openssh-client', 'libwrap0', 'cpio', 'strace'],
  // a real VS Code for the e2e tier: code-server's native modules, and the browser that drives it
  e2e: ['chromium', 'libkrb5-dev'],
};

function installed(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

function aptListsEmpty() {
  const dir = '/var/lib/apt/lists';
  return !existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith('_Packages') || f.endsWith('_Packages.lz4'));
}

export function ensureDebianPackages(jobs) {
  if (!existsSync('/usr/bin/dpkg-query')) {
    console.error('prepare: this is not a Debian-based system; install the equivalents of: ' +
      jobs.flatMap((j) => DEBIAN_PACKAGES[j]).join(' '));
    return;
  }
  const missing = [...new Set(jobs.flatMap((j) => DEBIAN_PACKAGES[j]))].filter((p) => !installed(p));
  const isRoot = process.getuid?.() === 0;
  if (missing.length === 0) {
    // Kernels (the VM's, the unit tier's reference ones) come from `apt-get download`, which needs
    // package lists even when nothing is missing.
    if (aptListsEmpty() && isRoot) execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
    return;
  }
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (!isRoot) {
    throw new Error(`prepare: missing Debian packages: ${missing.join(' ')}\nInstall them with:\n  sudo sh -c '${command}'`);
  }
  console.log(`prepare: installing Debian packages: ${missing.join(' ')}`);
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** `npm ci` when node_modules is absent or older than the lock file. */
export function ensureNpmDependencies() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  console.log('prepare: installing npm dependencies (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const jobs = args.includes('--all') ? Object.keys(DEBIAN_PACKAGES) : args.filter((a) => a in DEBIAN_PACKAGES);
  const unknown = args.filter((a) => a !== '--all' && !(a in DEBIAN_PACKAGES));
  if (unknown.length) {
    console.error(`prepare: unknown job ${unknown.join(', ')} (use ${Object.keys(DEBIAN_PACKAGES).join(', ')} or --all)`);
    process.exit(2);
  }
  try {
    ensureDebianPackages(jobs.length ? jobs : ['build']);
    ensureNpmDependencies();
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
