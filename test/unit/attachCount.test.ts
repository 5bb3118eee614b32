// The attach-count probe: one program per hook, buildable without kernel headers.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { attachProbeSource, compileAttachProbe, programName } from '../../extension/core/attachCount';

describe('attach-count probe', () => {
  it('has one lsm/<hook> program per hook with a positional name, and a GPL license', () => {
    const src = attachProbeSource(['file_open', 'bprm_check_security']);
    assert.match(src, /section\("license"\).*"GPL"/);
    assert.match(src, new RegExp(`section\\("lsm/file_open"\\).*int ${programName(0)}\\(void \\*ctx\\)`));
    assert.match(src, new RegExp(`section\\("lsm/bprm_check_security"\\).*int ${programName(1)}\\(`));
  });

  it('refuses names that are not hook identifiers (they end up in C source)', () => {
    assert.throws(() => attachProbeSource(['file_open"); system("x']), /not a hook name/);
  });

  it('compiles with clang into a BPF object with every program section', async function () {
    if (spawnSync('clang', ['--version']).status !== 0) this.skip();
    const obj = await compileAttachProbe(['file_open', 'task_kill', 'inode_unlink']);
    assert.equal(obj.readUInt32BE(0), 0x7f454c46);
    assert.equal(obj.readUInt16LE(18), 247, 'e_machine is EM_BPF');
    for (const h of ['lsm/file_open', 'lsm/task_kill', 'lsm/inode_unlink']) assert.ok(obj.includes(Buffer.from(h)), h);
  });
});
