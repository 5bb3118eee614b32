// A subcommand whose feature has not landed yet: it says so and exits 3, never pretends.
import { Subcommand } from './subcommand';

export function pending(name: string, summary: string): Subcommand {
  return {
    name,
    summary: `${summary} (not available yet)`,
    usage: `bpf-lsm ${name}: not available in this version yet.`,
    async run() {
      console.error(`bpf-lsm ${name}: not available in this version of BPF-LSM Studio yet.`);
      return 3;
    },
  };
}
