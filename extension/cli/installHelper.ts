// `sudo bpf-lsm install-helper`: installs the helper, its addon and this node binary into a root-owned
// folder (/opt/bpf-lsm-studio/<version>) and prints the sudoers line that allows exactly that helper.
import { parseArgs, UsageError } from './args';
import { Subcommand } from './subcommand';
import { helperBundle } from '../core/targets/deploy';
import { helperInstallRoot, installHelper } from '../core/targets/install';
import { sudoersLine } from '../core/targets/local';

const usage = `usage: sudo bpf-lsm install-helper [--json]
Copies the helper (helper.js), its libbpf addon and the node binary running this command into
${helperInstallRoot()}/<version>/, owned by root and writable only by root, and prints the sudoers line that
lets the invoking user (SUDO_USER) start exactly that helper without a password. A sudo rule naming files
the user can change (the extension folder, a node in the home folder) would give any of the user's
processes root; the install keeps the rule narrow. Run it again after an update (each version has its own folder).`;

export const installHelperCommand: Subcommand = {
  name: 'install-helper',
  summary: 'install the helper root-owned for a narrow sudo rule (run with sudo)',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { json: {} });
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
    const helper = installHelper(helperBundle(), process.execPath);
    const line = sudoersLine(helper.node, helper.helperJs);
    if (args.flags.has('json')) console.log(JSON.stringify({ ...helper, sudoersLine: line }, null, 2));
    else console.log(`installed the helper in ${helper.dir} (root-owned)\nallow it with \`visudo -f /etc/sudoers.d/bpf-lsm-studio\`:\n${line}`);
    return 0;
  },
};
