// The manifest and the command catalogue agree, and the manifest follows VS Code conventions.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS, COMMAND_CATEGORY } from '../../extension/shared/commands';

const root = join(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

describe('package.json manifest', () => {
  it('contributes exactly the commands of the catalogue, each with the BPF-LSM category', () => {
    const contributed = manifest.contributes.commands as Array<{ command: string; title: string; category: string }>;
    assert.deepEqual(
      contributed.map((c) => c.command).sort(),
      Object.values(COMMANDS).map((c) => c.id).sort(),
    );
    for (const c of contributed) {
      assert.equal(c.category, COMMAND_CATEGORY, c.command);
      const info = Object.values(COMMANDS).find((x) => x.id === c.command);
      assert.equal(c.title, info?.title);
    }
  });

  it('runs in the workspace (where the kernel is) and explains its untrusted-workspace limits', () => {
    assert.deepEqual(manifest.extensionKind, ['workspace']);
    const untrusted = manifest.capabilities.untrustedWorkspaces;
    assert.equal(untrusted.supported, 'limited');
    assert.match(untrusted.description, /root/);
  });

  it('keeps the target, BTF and kernel source settings from untrusted workspaces, and gates the same commands in manifest and handlers', () => {
    // A workspace's .vscode/settings.json must not pick the ssh host the user's keys go to, nor a file to read.
    assert.deepEqual([...manifest.capabilities.untrustedWorkspaces.restrictedConfigurations].sort(), ['bpfLsm.btfPath', 'bpfLsm.kernelMatrix', 'bpfLsm.kernelSourcePath', 'bpfLsm.target']);
    for (const c of manifest.contributes.commands as Array<{ command: string; enablement?: string }>) {
      const info = Object.values(COMMANDS).find((x) => x.id === c.command) as { trusted?: true };
      assert.equal(c.enablement === 'isWorkspaceTrusted', info.trusted === true, `${c.command}: enablement and the handler's trust check agree`);
    }
  });

  it('names the bundled client as main and the CLI as bin bpf-lsm', () => {
    assert.equal(manifest.main, './dist/extension.js');
    assert.equal(manifest.bin['bpf-lsm'], './dist/cli.js');
    assert.equal(manifest.displayName, 'BPF-LSM Studio');
  });
});
