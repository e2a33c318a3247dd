/**
 * Every CLI command (one file each, cmd_<verb>.ts) in the order `help` lists them, loaded
 * on demand: a command run imports only its own module graph, so `version` or `snapshots`
 * never pay for the archiver, restorer, checker or their WASM. Register a command here.
 */
import type { Command } from './command.js';

const COMMAND_LOADERS: ReadonlyArray<readonly [name: string, load: () => Promise<Command>]> = [
  ['init', async () => (await import('./cmd_init.js')).initCommand],
  ['backup', async () => (await import('./cmd_backup.js')).backupCommand],
  ['snapshots', async () => (await import('./cmd_snapshots.js')).snapshotsCommand],
  ['restore', async () => (await import('./cmd_restore.js')).restoreCommand],
  ['ls', async () => (await import('./cmd_ls.js')).lsCommand],
  ['cat', async () => (await import('./cmd_cat.js')).catCommand],
  ['list', async () => (await import('./cmd_list.js')).listCommand],
  ['dump', async () => (await import('./cmd_dump.js')).dumpCommand],
  ['find', async () => (await import('./cmd_find.js')).findCommand],
  ['diff', async () => (await import('./cmd_diff.js')).diffCommand],
  ['stats', async () => (await import('./cmd_stats.js')).statsCommand],
  ['check', async () => (await import('./cmd_check.js')).checkCommand],
  ['prune', async () => (await import('./cmd_prune.js')).pruneCommand],
  ['rebuild-index', async () => (await import('./cmd_rebuild_index.js')).rebuildIndexCommand],
  ['repair', async () => (await import('./cmd_repair.js')).repairCommand],
  ['rewrite', async () => (await import('./cmd_rewrite.js')).rewriteCommand],
  ['recover', async () => (await import('./cmd_recover.js')).recoverCommand],
  ['forget', async () => (await import('./cmd_forget.js')).forgetCommand],
  ['tag', async () => (await import('./cmd_tag.js')).tagCommand],
  ['copy', async () => (await import('./cmd_copy.js')).copyCommand],
  ['key', async () => (await import('./cmd_key.js')).keyCommand],
  ['unlock', async () => (await import('./cmd_unlock.js')).unlockCommand],
  ['migrate', async () => (await import('./cmd_migrate.js')).migrateCommand],
  ['cache', async () => (await import('./cmd_cache.js')).cacheCommand],
  ['rest-server', async () => (await import('./cmd_rest_server.js')).restServerCommand],
  ['che', async () => (await import('./cmd_che.js')).cheCommand],
  ['generate', async () => (await import('./cmd_generate.js')).generateCommand],
  ['version', async () => (await import('./cmd_version.js')).versionCommand],
];

/** The command called `name`, or undefined when there is none. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  const entry = COMMAND_LOADERS.find(([n]) => n === name);
  return entry ? entry[1]() : undefined;
}

/** All commands, in help order (loads every command module). */
export function loadCommands(): Promise<Command[]> {
  return Promise.all(COMMAND_LOADERS.map(([, load]) => load()));
}
