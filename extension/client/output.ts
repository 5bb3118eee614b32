// Feature: the "BPF-LSM Studio" output channel.
// Commands: bpfLsm.showOutput.
import { Studio } from './studio';

export function registerOutputCommands(studio: Studio): void {
  studio.command('showOutput', () => studio.output.show());
}
