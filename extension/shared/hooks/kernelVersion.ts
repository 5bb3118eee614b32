// Kernel versions as comparable numbers. Release strings look like `6.1.0-56-amd64`, `6.18.44-fc-v769`,
// `6.9.0-rc3+`; distribution packages carry the upstream stable level in their package version
// (Debian's 6.1.0-56 is upstream 6.1.192), which callers may pass instead when they know it.

export interface KernelVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export function parseKernelVersion(text: string): KernelVersion | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] ? Number(m[3]) : 0 };
}

export function compareKernelVersions(a: KernelVersion, b: KernelVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function formatKernelVersion(v: KernelVersion): string {
  return `${v.major}.${v.minor}${v.patch ? `.${v.patch}` : ''}`;
}

/** `6.1` or `6.1.55` as a version; throws on a malformed literal (the tables are code, a typo is a bug). */
export function kv(text: string): KernelVersion {
  const v = parseKernelVersion(text);
  if (!v) throw new Error(`malformed kernel version literal "${text}"`);
  return v;
}

/**
 * The upstream version a kernel banner (`/proc/version`, or the banner inside an image) stands for.
 * Distribution kernels keep the stable level outside the release string: Debian's banner ends with
 * `Debian 6.1.192-2 (...)`, Ubuntu's with `(Ubuntu 6.8.0-45.45-generic 6.8.12)`. Those win over the
 * release because the version rules depend on stable backports.
 */
export function kernelVersionFromBanner(banner: string): KernelVersion | undefined {
  // The last match: the compiler part of the banner names Debian's gcc version too.
  const debian = [...banner.matchAll(/ Debian (\d+\.\d+\.\d+)/g)].pop();
  if (debian) return parseKernelVersion(debian[1]);
  const ubuntu = /\(Ubuntu [^)]* (\d+\.\d+\.\d+)\)/.exec(banner);
  if (ubuntu) return parseKernelVersion(ubuntu[1]);
  const release = /Linux version (\S+)/.exec(banner);
  return parseKernelVersion(release ? release[1] : banner);
}

/** Finds the `Linux version ...` banner line inside a kernel image (vmlinux), e.g. to key version rules. */
export function kernelBannerFromImage(image: Uint8Array): string | undefined {
  const needle = Buffer.from('Linux version ');
  const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  let at = buf.indexOf(needle);
  while (at >= 0) {
    let end = at;
    while (end < buf.length && end - at < 512 && buf[end] !== 0 && buf[end] !== 0x0a) end++;
    const line = buf.toString('latin1', at, end);
    // The banner format string (`Linux version %s`) also appears; only a digit-led release is real.
    if (/^Linux version \d+\.\d+/.test(line)) return line;
    at = buf.indexOf(needle, at + 1);
  }
  return undefined;
}
