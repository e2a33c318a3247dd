/** Every CLI command, one file each (cmd_<verb>.ts), in the order `help` lists them. */
import type { Command } from './command.js';
import { initCommand } from './cmd_init.js';
import { backupCommand } from './cmd_backup.js';
import { snapshotsCommand } from './cmd_snapshots.js';
import { restoreCommand } from './cmd_restore.js';
import { versionCommand } from './cmd_version.js';
import { restServerCommand } from './cmd_rest_server.js';

export const COMMANDS: Command[] = [
  initCommand,
  backupCommand,
  snapshotsCommand,
  restoreCommand,
  restServerCommand,
  versionCommand,
];
