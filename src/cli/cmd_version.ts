import type { Command } from './command.js';
import { VERSION } from '../version.js';

export const versionCommand: Command = {
  name: 'version',
  summary: 'Print version information',
  usage: 'restic-ts version',
  options: [],
  async run(ctx) {
    const v = `restic-ts ${VERSION} compiled with node ${process.version} on ${process.platform}/${process.arch}`;
    ctx.stdout(ctx.json ? JSON.stringify({ message_type: 'version', version: VERSION, node_version: process.version }) + '\n' : v + '\n');
    return 0;
  },
};
