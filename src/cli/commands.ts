/**
 * Every CLI command, fully loaded, in the order `help` lists them. Importing this module
 * loads every command; the CLI itself loads one at a time through command-list.ts, where
 * commands are registered.
 */
import type { Command } from './command.js';
import { loadCommands } from './command-list.js';

export const COMMANDS: Command[] = await loadCommands();
