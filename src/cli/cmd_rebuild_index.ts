import type { Command } from './command.js';
import { rebuildIndexOptions, runRebuildIndex } from './rebuild-index-run.js';

export const rebuildIndexCommand: Command = {
  name: 'rebuild-index',
  summary: 'Build a new index',
  usage: 'restic-ts rebuild-index [flags]',
  options: rebuildIndexOptions,
  run: runRebuildIndex,
};
