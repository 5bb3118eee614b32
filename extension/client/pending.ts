// Commands whose feature has not landed yet: each says so plainly instead of failing or doing nothing.
// A feature registers its real handler before this runs, so an id is only handled here while it is pending.
import * as vscode from 'vscode';
import { COMMANDS, CommandKey } from '../shared/commands';
import { Studio } from './studio';

export function registerPendingCommands(studio: Studio): void {
  for (const key of Object.keys(COMMANDS) as CommandKey[]) {
    if (studio.isRegistered(key)) continue;
    const { title } = COMMANDS[key];
    studio.command(key, () => {
      const message = `BPF-LSM: ${title} is not available in this version of BPF-LSM Studio yet.`;
      studio.log(message);
      void vscode.window.showInformationMessage(message);
      return { pending: true };
    });
  }
}
