/** Every CLI command, one file each (cmd_<verb>.ts), in the order `help` lists them. */
import type { Command } from './command.js';
import { initCommand } from './cmd_init.js';
import { backupCommand } from './cmd_backup.js';
import { snapshotsCommand } from './cmd_snapshots.js';
import { restoreCommand } from './cmd_restore.js';
import { versionCommand } from './cmd_version.js';
import { restServerCommand } from './cmd_rest_server.js';
import { lsCommand } from './cmd_ls.js';
import { catCommand } from './cmd_cat.js';
import { dumpCommand } from './cmd_dump.js';
import { findCommand } from './cmd_find.js';
import { diffCommand } from './cmd_diff.js';
import { statsCommand } from './cmd_stats.js';
import { checkCommand } from './cmd_check.js';
import { pruneCommand } from './cmd_prune.js';
import { rebuildIndexCommand } from './cmd_rebuild_index.js';
import { repairCommand } from './cmd_repair.js';
import { forgetCommand } from './cmd_forget.js';
import { tagCommand } from './cmd_tag.js';
import { copyCommand } from './cmd_copy.js';
import { keyCommand } from './cmd_key.js';
import { unlockCommand } from './cmd_unlock.js';
import { migrateCommand } from './cmd_migrate.js';

export const COMMANDS: Command[] = [
  initCommand,
  backupCommand,
  snapshotsCommand,
  restoreCommand,
  lsCommand,
  catCommand,
  dumpCommand,
  findCommand,
  diffCommand,
  statsCommand,
  checkCommand,
  pruneCommand,
  rebuildIndexCommand,
  repairCommand,
  forgetCommand,
  tagCommand,
  copyCommand,
  keyCommand,
  unlockCommand,
  migrateCommand,
  restServerCommand,
  versionCommand,
];
