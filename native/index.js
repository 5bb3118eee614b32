// SPDX-License-Identifier: GPL-2.0-only
// Loader of the libbpf binding (bpflsm.node). It looks beside the running bundle first (dist/native, where
// the build and the target deployment put it) and then in the node-gyp output of a checkout, so the same
// code serves the helper on a target, the CLI and the tests. Failures name the missing piece and the fix.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

let cached;

function candidates() {
  const found = [];
  if (process.env.BPF_LSM_NATIVE_ADDON) found.push(process.env.BPF_LSM_NATIVE_ADDON);
  found.push(path.join(__dirname, 'native', 'bpflsm.node'));
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    found.push(path.join(dir, 'native', 'build', 'Release', 'bpflsm.node'));
    found.push(path.join(dir, 'build', 'Release', 'bpflsm.node'));
    found.push(path.join(dir, 'dist', 'native', 'bpflsm.node'));
    if (path.dirname(dir) === dir) break;
  }
  return found;
}

function explain(file, err) {
  const text = String((err && err.message) || err);
  const lib = /(lib(?:bpf|elf|z)\.so[.\d]*): cannot open shared object file/.exec(text);
  if (lib) {
    const pkg = { 'libbpf.so': 'libbpf1', 'libelf.so': 'libelf1', 'libz.so': 'zlib1g' }[lib[1].replace(/\.so.*/, '.so')] || 'libbpf1';
    return `the libbpf binding (${file}) needs ${lib[1]}, which is not installed on this machine; install it (Debian/Ubuntu: apt-get install ${pkg}) and retry`;
  }
  if (/GLIBC_|GLIBCXX_/.test(text)) {
    return `the libbpf binding (${file}) was built against a newer C library than this machine has (${text.split('\n')[0]}); build it on a system with the same or an older glibc`;
  }
  return `the libbpf binding (${file}) could not be loaded: ${text.split('\n')[0]}`;
}

/** Loads the addon once; throws an Error whose message says what is missing and how to fix it. */
function loadNative() {
  if (cached) return cached;
  const tried = [];
  for (const file of candidates()) {
    if (!fs.existsSync(file)) {
      tried.push(file);
      continue;
    }
    const mod = { exports: {} };
    try {
      process.dlopen(mod, file);
    } catch (err) {
      const e = new Error(explain(file, err));
      e.code = 'NATIVE_ADDON_UNUSABLE';
      throw e;
    }
    cached = mod.exports;
    cached.path = file;
    return cached;
  }
  const e = new Error(
    'the libbpf binding bpflsm.node was not found (looked beside the bundle in native/ and in native/build/Release). ' +
      'Build it with `npm run build` in the extension folder (needs: apt-get install clang llvm libbpf-dev libelf-dev zlib1g-dev g++ make python3), ' +
      'or set BPF_LSM_NATIVE_ADDON to its path.',
  );
  e.code = 'NATIVE_ADDON_MISSING';
  e.tried = tried;
  throw e;
}

module.exports = { loadNative };
