// Pure pieces of the built-in VM: the initramfs writer, module ordering, kernel/ldd/monitor parsing.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archivePath, CpioEntry, readCpio, withParents, writeCpio } from '../../extension/core/vm/cpio';
import { loadOrder, ModInfo, readModInfo } from '../../extension/core/vm/modules';
import { builtinModules, findPayload, findXzPayload, parseImageDependency } from '../../extension/core/vm/kernel';
import { imageFingerprint, imagePlan, initScript, parseLdd, READY_MARKER } from '../../extension/core/vm/image';
import { DAEMON_DIR, DAEMON_FLAG } from '../../extension/shared/helperDaemon';
import { parseReadyLine, parseUsernetPort, qemuArgs } from '../../extension/core/vm/machine';
import { cacheRoot, helperChannelName, socketPath, vmPaths } from '../../extension/core/vm/paths';

function withTemp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-unit-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function archive(entries: CpioEntry[]): Buffer {
  return withTemp((dir) => {
    const file = join(dir, 'a.cpio');
    const fd = openSync(file, 'w');
    try {
      writeCpio(fd, entries);
    } finally {
      closeSync(fd);
    }
    return readFileSync(file);
  });
}

describe('initramfs (newc cpio) writer', () => {
  it('round-trips files, symlinks, directories and device nodes with exact modes', () => {
    const buf = withTemp((dir) => {
      const host = join(dir, 'host.bin');
      writeFileSync(host, Buffer.from([1, 2, 3, 4, 5]));
      return archive([
        { kind: 'file', path: '/etc/passwd', mode: 0o644, data: Buffer.from('root:x:0:0::/root:/bin/sh\n') },
        { kind: 'hostFile', path: 'usr/bin/tool', mode: 0o755, source: host },
        { kind: 'symlink', path: 'bin/sh', target: '/bin/busybox' },
        { kind: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
        { kind: 'dir', path: 'tmp', mode: 0o1777 },
      ]);
    });
    assert.equal(buf.length % 4, 0, 'the archive ends 4-byte aligned');
    const entries = readCpio(buf);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual(entries.map((e) => e.name), ['etc', 'etc/passwd', 'usr', 'usr/bin', 'usr/bin/tool', 'bin', 'bin/sh', 'dev', 'dev/console', 'tmp']);
    assert.equal(byName.get('etc/passwd')!.mode, 0o100644);
    assert.equal(byName.get('etc/passwd')!.data.toString(), 'root:x:0:0::/root:/bin/sh\n');
    assert.deepEqual([...byName.get('usr/bin/tool')!.data], [1, 2, 3, 4, 5]);
    assert.equal(byName.get('usr/bin/tool')!.mode, 0o100755);
    assert.equal(byName.get('bin/sh')!.mode, 0o120777);
    assert.equal(byName.get('bin/sh')!.data.toString(), '/bin/busybox');
    assert.equal(byName.get('dev/console')!.mode, 0o020600);
    assert.equal(byName.get('dev/console')!.rdevMajor, 5);
    assert.equal(byName.get('tmp')!.mode, 0o041777);
  });

  it('is readable by GNU cpio when it is installed', function () {
    const probe = spawnSync('cpio', ['--version']);
    if (probe.status !== 0) this.skip();
    const buf = archive([{ kind: 'file', path: 'a/b.txt', mode: 0o600, data: Buffer.from('x'.repeat(1001)) }]);
    const r = spawnSync('cpio', ['-t', '-v', '--quiet'], { input: buf, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^-rw------- .* 1001 .* a\/b\.txt$/m);
  });

  it('adds missing parents once and keeps the first of duplicate paths', () => {
    const out = withParents([
      { kind: 'symlink', path: 'a/b/c', target: 'x' },
      { kind: 'symlink', path: '/a/b/c', target: 'y' },
      { kind: 'dir', path: 'a/b/' },
    ]);
    assert.deepEqual(out.map((e) => e.path), ['a', 'a/b', 'a/b/c']);
    assert.equal((out[2] as { target: string }).target, 'x');
  });

  it('refuses paths that escape the archive', () => {
    assert.throws(() => archivePath('../etc/passwd'), /invalid path/);
    assert.throws(() => archivePath('/'), /invalid path/);
    assert.equal(archivePath('/usr//bin/./node'), 'usr/bin/node');
  });
});

/** A minimal ELF64 relocatable file with a .modinfo section, as a kernel module has. */
function fakeModule(modinfo: string): Buffer {
  const shstr = Buffer.from('\0.modinfo\0.shstrtab\0');
  const info = Buffer.from(modinfo);
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2; // ELFCLASS64
  header[5] = 1; // little endian
  const infoOff = 64;
  const strOff = infoOff + info.length;
  const shoff = strOff + shstr.length;
  header.writeBigUInt64LE(BigInt(shoff), 0x28);
  header.writeUInt16LE(64, 0x3a);
  header.writeUInt16LE(3, 0x3c);
  header.writeUInt16LE(2, 0x3e);
  const section = (name: number, off: number, size: number) => {
    const s = Buffer.alloc(64);
    s.writeUInt32LE(name, 0);
    s.writeBigUInt64LE(BigInt(off), 0x18);
    s.writeBigUInt64LE(BigInt(size), 0x20);
    return s;
  };
  return Buffer.concat([header, info, shstr, section(0, 0, 0), section(1, infoOff, info.length), section(10, strOff, shstr.length)]);
}

describe('kernel modules', () => {
  it('reads name and depends from .modinfo', () => {
    const ko = fakeModule('license=GPL\0depends=virtio_ring,virtio\0name=virtio_rng\0vermagic=6.1.0\0');
    assert.deepEqual(readModInfo(ko), { name: 'virtio_rng', depends: ['virtio_ring', 'virtio'] });
    assert.deepEqual(readModInfo(fakeModule('depends=\0name=failover\0')).depends, []);
  });

  it('rejects files that are not modules', () => {
    assert.throws(() => readModInfo(Buffer.from('not an elf file at all, just text padding it out to 64 bytes....')), /not an ELF/);
    assert.throws(() => readModInfo(fakeModule('license=GPL\0')), /no name=/);
  });

  const mods = new Map<string, ModInfo>(
    [
      { name: 'virtio_ring', depends: [] },
      { name: 'virtio', depends: ['virtio_ring'] },
      { name: 'virtio_pci_modern_dev', depends: [] },
      { name: 'virtio_pci_legacy_dev', depends: [] },
      { name: 'virtio_pci', depends: ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio'] },
      { name: 'failover', depends: [] },
      { name: 'net_failover', depends: ['failover'] },
      { name: 'virtio_net', depends: ['virtio_ring', 'virtio', 'net_failover'] },
      { name: 'virtio_rng', depends: ['virtio', 'virtio_ring'] },
    ].map((m) => [m.name, m]),
  );

  it('orders every module after its dependencies', () => {
    const order = loadOrder(['virtio_pci', 'virtio_rng', 'virtio_net'], mods);
    assert.deepEqual(order, ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio', 'virtio_pci', 'virtio_rng', 'failover', 'net_failover', 'virtio_net']);
    for (const [i, name] of order.entries()) for (const dep of mods.get(name)!.depends) assert.ok(order.indexOf(dep) < i, `${dep} before ${name}`);
  });

  it('names a missing dependency and detects cycles', () => {
    assert.throws(() => loadOrder(['virtio_net'], new Map([['virtio_net', { name: 'virtio_net', depends: ['net_failover'] }]])), /net_failover \(needed by virtio_net\) is not in the kernel package/);
    const cyc = new Map<string, ModInfo>([
      ['a', { name: 'a', depends: ['b'] }],
      ['b', { name: 'b', depends: ['a'] }],
    ]);
    assert.throws(() => loadOrder(['a'], cyc), /cycle: a -> b -> a/);
  });
});

describe('kernel package and image helpers', () => {
  it('finds the xz payload of a bzImage', () => {
    const img = Buffer.concat([Buffer.alloc(300, 0x90), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2])]);
    assert.equal(findXzPayload(img), 300);
    assert.throws(() => findXzPayload(Buffer.alloc(100)), /no xz payload/);
  });

  it('finds a zstd payload (6.12) from the setup header, without the appended size', () => {
    const img = Buffer.alloc(4096);
    img[0x1f1] = 3; // setup_sects: protected-mode code starts at (3 + 1) * 512
    img.write('HdrS', 0x202, 'latin1');
    img.writeUInt32LE(100, 0x248);
    img.writeUInt32LE(12, 0x24c);
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 0xaa, 0xbb, 0xcc, 0xdd]).copy(img, 2048 + 100);
    const p = findPayload(img);
    assert.equal(p.format, 'zstd');
    assert.deepEqual([...p.data], [0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4]);
    // Without a setup header: the xz search of the 6.1 path.
    const xz = Buffer.concat([Buffer.alloc(300, 0x90), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2])]);
    assert.equal(findPayload(xz).format, 'xz');
    assert.equal(findPayload(xz).data.length, 8);
  });

  it('reads module names from modules.builtin', () => {
    withTemp((dir) => {
      writeFileSync(join(dir, 'modules.builtin'), 'kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/char/virtio_console.ko\nkernel/drivers/char/hw_random/virtio-rng.ko\n');
      assert.deepEqual(builtinModules(join(dir, 'modules.builtin')), ['virtio_pci', 'virtio_console', 'virtio_rng']);
      assert.deepEqual(builtinModules(join(dir, 'missing')), []);
    });
  });

  it('resolves linux-image-6.12-amd64 to its versioned image package', () => {
    const show = 'Package: linux-image-6.12-amd64\nDepends: linux-image-6.12.117+deb12-amd64 (= 6.12.117-1~deb12u1)\n';
    assert.equal(parseImageDependency(show, 'linux-image-6.12-amd64'), 'linux-image-6.12.117+deb12-amd64');
  });

  it('resolves linux-image-amd64 to the versioned image package', () => {
    const show = 'Package: linux-image-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\nDescription: Linux for 64-bit PCs\n';
    assert.equal(parseImageDependency(show), 'linux-image-6.1.0-56-amd64');
    assert.throws(() => parseImageDependency('Package: x\n'), /could not find/);
  });

  it('parses ldd output, skipping the vDSO and failing on a missing library', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibcrypt.so.1 => /lib/x86_64-linux-gnu/libcrypt.so.1 (0x00007f)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f)',
    ].join('\n');
    assert.deepEqual(parseLdd(out, 'sshd'), ['/lib/x86_64-linux-gnu/libcrypt.so.1', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
    assert.deepEqual(parseLdd('\tnot a dynamic executable\n', 'busybox'), []);
    assert.throws(() => parseLdd('\tlibwrap.so.0 => not found\n', 'sshd'), /sshd needs libwrap\.so\.0/);
  });

  it('reads the forwarded ssh port from the monitor and the ready line from the console', () => {
    const usernet = 'Hub -1 (n0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n  TCP[HOST_FORWARD]  13       127.0.0.1 40603       10.0.2.15    22     0     0\r\n';
    assert.equal(parseUsernetPort(usernet), 40603);
    assert.equal(parseUsernetPort('Hub -1 (n0):\n'), undefined);
    const log = `[    2.1] something\n${READY_MARKER} 6.1.0-56-amd64 lsm=lockdown,capability,landlock,yama,apparmor,bpf\n`;
    assert.deepEqual(parseReadyLine(log), { release: '6.1.0-56-amd64', lsm: ['lockdown', 'capability', 'landlock', 'yama', 'apparmor', 'bpf'] });
    assert.equal(parseReadyLine('booting...'), undefined);
    // Caught while the guest writes it: not ready until the line is whole.
    assert.equal(parseReadyLine(`${READY_MARKER} 6.1.0-56-amd64 lsm=lockdown,capability,landlock`), undefined);
    assert.deepEqual(parseReadyLine(`${READY_MARKER} 6.1.0-56-amd64 lsm=lockdown,bpf\r\n`)?.lsm, ['lockdown', 'bpf']);
  });

  it('boots with bpf in lsm=, the forward bound to 127.0.0.1 only and a restricted network', () => {
    const args = qemuArgs({ vmlinux: 'k', initramfs: 'i', console: 'c', monitor: '/c,d/m.sock', pidFile: 'p', memoryMb: 2048, cpus: 2, accel: 'tcg,thread=multi', helperChannels: ['/r/h-0.sock', '/r,x/h-1.sock'] });
    assert.ok(args.includes('unix:/c,,d/m.sock,server=on,wait=off'), 'a comma in the monitor path is escaped for qemu');
    const append = args[args.indexOf('-append') + 1];
    assert.match(append, /(^| )lsm=[a-z,]*bpf( |$)/);
    const netdev = args[args.indexOf('-netdev') + 1];
    assert.match(netdev, /restrict=on/);
    assert.match(netdev, /hostfwd=tcp:127\.0\.0\.1:0-:22/);
    assert.ok(args.includes('-daemonize'));
  });

  it('gives every helper channel a virtio-serial port named for the guest and a host socket qemu listens on', () => {
    const args = qemuArgs({ vmlinux: 'k', initramfs: 'i', console: 'c', monitor: 'm', pidFile: 'p', memoryMb: 2048, cpus: 2, accel: 'tcg', helperChannels: ['/r/h-0.sock', '/r,x/h-1.sock'] });
    const values = (flag: string) => args.flatMap((a, i) => (args[i - 1] === flag ? [a] : []));
    assert.deepEqual(values('-chardev'), ['socket,id=hc0,path=/r/h-0.sock,server=on,wait=off', 'socket,id=hc1,path=/r,,x/h-1.sock,server=on,wait=off']);
    const ports = values('-device').filter((d) => d.startsWith('virtserialport,'));
    assert.deepEqual(ports, [
      `virtserialport,bus=hc.0,chardev=hc0,name=${helperChannelName(0)}`,
      `virtserialport,bus=hc.0,chardev=hc1,name=${helperChannelName(1)}`,
    ]);
    assert.ok(values('-device').includes('virtio-serial-pci,id=hc'));
  });

  it('plans an image that loads modules in order, starts sshd and announces readiness', () => {
    const kernel = { release: '6.1.0-56-amd64', package: 'p', version: 'v', vmlinux: '/k/vmlinux', config: '/k/config', modules: ['/k/modules/00-virtio_ring.ko', '/k/modules/01-virtio.ko'] };
    const script = initScript(kernel);
    assert.ok(script.indexOf('00-virtio_ring.ko') < script.indexOf('01-virtio.ko'));
    assert.match(script, /mount -t bpf bpf \/sys\/fs\/bpf/);
    assert.match(script, /\/usr\/sbin\/sshd/);
    assert.ok(script.trimEnd().endsWith(`say "${READY_MARKER.replace('bpf-lsm-vm: ', '')} $(uname -r) lsm=$(cat /sys/kernel/security/lsm)"`));
    const plan = imagePlan({
      kernel,
      tools: { busybox: '/bin/busybox', sshd: '/usr/sbin/sshd', node: '/usr/bin/node', bpftool: '/usr/sbin/bpftool', libbpf: '/bin/sh' },
      libraries: [],
      busyboxApplets: ['bin/sh', 'sbin/init', 'usr/bin/node'],
      hostKey: Buffer.from('PRIVATE'),
      hostKeyPub: Buffer.from('ssh-ed25519 AAAA host'),
      authorizedKey: Buffer.from('ssh-ed25519 BBBB user'),
    });
    const find = (p: string) => plan.find((e) => e.path === p);
    // A real program wins over a busybox applet of the same path once the archive drops duplicates.
    assert.deepEqual(withParents(plan).find((e) => e.path === 'usr/bin/node'), { kind: 'hostFile', path: 'usr/bin/node', mode: 0o755, source: '/usr/bin/node' });
    assert.deepEqual(find('bin/sh'), { kind: 'symlink', path: 'bin/sh', target: '/bin/busybox' });
    assert.deepEqual(find('root/.ssh/authorized_keys'), { kind: 'file', path: 'root/.ssh/authorized_keys', mode: 0o600, data: Buffer.from('ssh-ed25519 BBBB user') });
    assert.equal((find('etc/ssh/ssh_host_ed25519_key') as { mode: number }).mode, 0o600);
    const sshd = (find('etc/ssh/sshd_config') as { data: Buffer }).data.toString();
    assert.match(sshd, /^PasswordAuthentication no$/m);
    assert.match(sshd, /^UsePAM no$/m);
    assert.match(sshd, /^PermitRootLogin prohibit-password$/m);
    assert.match((find('etc/shadow') as { data: Buffer }).data.toString(), /^root:\*:/);
    // The unprivileged user for "as user" test steps: uid 1000, no password, a home of its own.
    assert.match((find('etc/passwd') as { data: Buffer }).data.toString(), /^user:x:1000:1000:[^:]*:\/home\/user:\/bin\/sh$/m);
    assert.match((find('etc/group') as { data: Buffer }).data.toString(), /^user:x:1000:$/m);
    assert.match((find('etc/shadow') as { data: Buffer }).data.toString(), /^user:\*:/m);
    assert.match((find('etc/rc.vm') as { data: Buffer }).data.toString(), /chown 1000:1000 \/home\/user/);
  });
});

describe('VM image with the helper of this build', () => {
  const kernel = { release: '6.1.0-56-amd64', package: 'p', version: 'v', vmlinux: '/k/vmlinux', config: '/k/config', modules: [] };
  const inputs = (helper?: { version: string; helperJs: string; addon: string }) => ({
    kernel,
    helper,
    tools: { busybox: '/bin/busybox', sshd: '/usr/sbin/sshd', node: '/usr/bin/node', bpftool: '/usr/sbin/bpftool', libbpf: '/bin/sh' },
    libraries: [],
    busyboxApplets: [],
    hostKey: Buffer.from('PRIVATE'),
    hostKeyPub: Buffer.from('ssh-ed25519 AAAA host'),
    authorizedKey: Buffer.from('ssh-ed25519 BBBB user'),
  });

  it('ships helper.js and the addon in the deployment folder of their version and starts the daemon once the VM is ready', () => {
    const helper = { version: '0123456789abcdef', helperJs: '/d/helper.js', addon: '/d/native/bpflsm.node' };
    const plan = imagePlan(inputs(helper));
    const find = (p: string) => plan.find((e) => e.path === p);
    assert.deepEqual(find('var/lib/bpf-lsm-studio/helper/0123456789abcdef/helper.js'), { kind: 'hostFile', path: 'var/lib/bpf-lsm-studio/helper/0123456789abcdef/helper.js', mode: 0o644, source: '/d/helper.js' });
    assert.deepEqual(find('var/lib/bpf-lsm-studio/helper/0123456789abcdef/native/bpflsm.node'), {
      kind: 'hostFile',
      path: 'var/lib/bpf-lsm-studio/helper/0123456789abcdef/native/bpflsm.node',
      mode: 0o755,
      source: '/d/native/bpflsm.node',
    });
    const script = (find('etc/rc.vm') as { data: Buffer }).data.toString();
    const start = script.split('\n').find((l) => l.includes(DAEMON_FLAG)) ?? '';
    assert.equal(start, `SUDO_UID=1000 SUDO_GID=1000 setsid /usr/bin/node /var/lib/bpf-lsm-studio/helper/0123456789abcdef/helper.js ${DAEMON_FLAG} </dev/null >>${DAEMON_DIR}/log 2>&1 &`);
    // After the ready line: node's start would otherwise hold up sshd and the boot.
    assert.ok(script.indexOf(start) > script.indexOf('say "ready'), 'the daemon starts after the VM announced readiness');
    assert.ok(script.indexOf(`mkdir -p -m 700 ${DAEMON_DIR}`) < script.indexOf(start));
  });

  it('without a built helper starts no daemon, and a new helper version rebuilds the image', () => {
    const plain = imagePlan(inputs());
    assert.ok(!plain.some((e) => e.path.startsWith('var/lib/bpf-lsm-studio/helper/')));
    assert.ok(!(plain.find((e) => e.path === 'etc/rc.vm') as { data: Buffer }).data.toString().includes(DAEMON_FLAG));
    // imageFingerprint stats the tools: real files of this machine stand in for them.
    const real = (h?: { version: string; helperJs: string; addon: string }) => ({ ...inputs(h), tools: { busybox: '/bin/sh', sshd: '/bin/sh', node: process.execPath, bpftool: '/bin/sh', libbpf: '/bin/sh' } });
    const a = imageFingerprint(real({ version: 'aaaaaaaaaaaaaaaa', helperJs: '/x', addon: '/y' }), 1);
    const b = imageFingerprint(real({ version: 'bbbbbbbbbbbbbbbb', helperJs: '/x', addon: '/y' }), 1);
    assert.notEqual(a, b);
    assert.notEqual(imageFingerprint(real(), 1), a);
  });
});

describe('VM cache paths', () => {
  it('uses $BPF_LSM_CACHE, then $XDG_CACHE_HOME, then ~/.cache', () => {
    assert.equal(cacheRoot({ BPF_LSM_CACHE: '/c' }), '/c');
    assert.equal(cacheRoot({ XDG_CACHE_HOME: '/x' }), '/x/bpf-lsm-studio');
    assert.equal(cacheRoot({ HOME: '/home/u' }), '/home/u/.cache/bpf-lsm-studio');
    assert.equal(vmPaths({ BPF_LSM_CACHE: '/c' }).image, '/c/vm/initramfs.cpio');
    // One cache folder per kernel: the default 6.1 keeps vm/, 6.12 gets vm-6.12/.
    assert.equal(vmPaths({ BPF_LSM_CACHE: '/c' }, '6.12').image, '/c/vm-6.12/initramfs.cpio');
    assert.equal(vmPaths({ BPF_LSM_CACHE: '/c' }, '6.12').kernelName, '6.12');
  });

  it('moves unix sockets out of folders too deep for sun_path', () => {
    assert.equal(socketPath('/short/monitor.sock'), '/short/monitor.sock');
    const deep = `/${'d'.repeat(120)}/monitor.sock`;
    const moved = socketPath(deep);
    assert.ok(Buffer.byteLength(moved) <= 100, moved);
    assert.equal(socketPath(deep), moved, 'stable for the same folder');
  });
});
