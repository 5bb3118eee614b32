// The manifest and the command catalogue agree, and the manifest follows VS Code conventions.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS, COMMAND_CATEGORY } from '../../extension/shared/commands';

const root = join(__dirname, '..', '..', '..');
const manifestText = readFileSync(join(root, 'package.json'), 'utf8');
const manifest = JSON.parse(manifestText);

/** Keys given twice in one object of a JSON text, as paths: JSON.parse (and VS Code) keep only the last. */
function duplicateKeys(text: string): string[] {
  const found: string[] = [];
  let i = 0;
  const space = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const string = (): string => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): void => {
    space();
    if (text[i] === '{' || text[i] === '[') {
      const object = text[i++] === '{';
      const seen = new Set<string>();
      space();
      if (text[i] === (object ? '}' : ']')) {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        let at = String(n);
        if (object) {
          space();
          at = string();
          if (seen.has(at)) found.push(`${path}/${at}`);
          seen.add(at);
          space();
          i++; // ':'
        }
        value(`${path}/${at}`);
        space();
        if (text[i++] !== ',') return;
      }
    }
    if (text[i] === '"') string();
    else while (i < text.length && !/[,}\]\s]/.test(text[i])) i++;
  };
  value('');
  return found;
}

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

  it('gives no key twice in one object (a second "editor/title" menu hid the first one\'s Load Probe button)', () => {
    assert.deepEqual(duplicateKeys('{"menus": {"a": [1, {"b": "x\\"y", "b": 2}], "a": []}}'), ['/menus/a/1/b', '/menus/a']);
    assert.deepEqual(duplicateKeys(manifestText), []);
  });

  it('names the bundled client as main and the CLI as bin bpf-lsm', () => {
    assert.equal(manifest.main, './dist/extension.js');
    assert.equal(manifest.bin['bpf-lsm'], './dist/cli.js');
    assert.equal(manifest.displayName, 'BPF-LSM Studio');
  });
});
