/**
 * restic-ts command line: restic's words and exit codes. Errors become one human line on
 * stderr (a JSON object under --json), never a stack trace.
 */
import { ResticError, UsageError, ExitCode } from '../errors.js';
import { parseArgs, formatHelp } from './args.js';
import type { Command } from './command.js';
import { GLOBAL_OPTIONS, type GlobalContext } from './global.js';
import { loadCommand, loadCommands } from './command-list.js';
import { RepositoryLock } from '../repository/lock.js';

function usage(commands: Command[]): string {
  const cmds = commands.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n');
  return `restic-ts is a backup program compatible with restic repositories.\n\nUsage:\n  restic-ts [command]\n\nAvailable Commands:\n${cmds}\n  help         Help about any command\n\nFlags:\n${formatHelp(GLOBAL_OPTIONS)}\n`;
}

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  try {
    const cmdIndex = argv.findIndex((a, i) => !a.startsWith('-') && !takesValue(argv[i - 1]));
    const name = cmdIndex >= 0 ? argv[cmdIndex]! : undefined;
    if (!name || name === 'help') {
      const target = name === 'help' && argv[cmdIndex + 1] !== undefined ? await loadCommand(argv[cmdIndex + 1]!) : undefined;
      io.stdout(target ? commandHelp(target) : usage(await loadCommands()));
      return name || argv.includes('--help') || argv.includes('-h') ? 0 : 1;
    }
    const cmd = await loadCommand(name);
    if (!cmd) throw new UsageError(`unknown command "${name}" for "restic-ts"`);
    const rest = [...argv.slice(0, cmdIndex), ...argv.slice(cmdIndex + 1)];
    const { opts, args } = parseArgs(rest, [...GLOBAL_OPTIONS, ...cmd.options], cmd.name);
    if (opts['help']) {
      io.stdout(commandHelp(cmd));
      return 0;
    }
    const ctx: GlobalContext = {
      opts,
      env: io.env,
      stdout: io.stdout,
      stderr: io.stderr,
      json: !!opts['json'],
      quiet: !!opts['quiet'],
      commands: loadCommands,
    };
    return await cmd.run(ctx, args);
  } catch (err) {
    return reportError(err, io, json);
  }
}

const VALUE_FLAGS = new Set(
  GLOBAL_OPTIONS.filter((o) => o.kind === 'string' || o.kind === 'list').flatMap((o) => [
    `--${o.name}`,
    ...(o.short ? [`-${o.short}`] : []),
  ]),
);

/** Whether `flag` consumes the next argument (so that argument is not the command name). */
function takesValue(flag: string | undefined): boolean {
  return !!flag && VALUE_FLAGS.has(flag);
}

function commandHelp(cmd: Command): string {
  // A command's own flag takes over a global one with its name or shorthand (che's -r, -p).
  const shadowed = (g: (typeof GLOBAL_OPTIONS)[number]) => cmd.options.some((o) => o.name === g.name || (!!o.short && o.short === g.short));
  const globals = GLOBAL_OPTIONS.filter((g) => !shadowed(g));
  return `${cmd.summary}\n\nUsage:\n  ${cmd.usage}\n\nFlags:\n${formatHelp(cmd.options)}\n\nGlobal Flags:\n${formatHelp(globals)}\n`;
}

const SIGNAL_NAMES: Record<string, string> = { SIGINT: 'interrupt', SIGTERM: 'terminated' };

/**
 * SIGINT/SIGTERM end the process after releasing every lock it holds, as restic's cleanup
 * handler does: exit 130 for SIGINT (restic's code), 143 (128 + 15) for SIGTERM. Data
 * already uploaded stays unreferenced until prune; no snapshot is written after the signal.
 */
export function installSignalHandlers(io: Pick<Io, 'stderr'>, exit: (code: number) => void = (c) => process.exit(c)): void {
  let exiting = false;
  const onSignal = (sig: NodeJS.Signals) => {
    // a command with its own handler (rest-server's graceful stop) decides for itself
    if (exiting || process.listenerCount(sig) > 1) return;
    exiting = true;
    io.stderr(`signal ${SIGNAL_NAMES[sig] ?? sig} received, cleaning up\n`);
    const code = sig === 'SIGINT' ? ExitCode.Interrupted : 128 + 15;
    RepositoryLock.releaseAll().finally(() => exit(code));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function reportError(err: unknown, io: Io, json: boolean): number {
  const code = err instanceof ResticError ? err.exitCode : ExitCode.Fatal;
  const message = err instanceof Error ? err.message : String(err);
  const known = err instanceof ResticError || (err as NodeJS.ErrnoException)?.code !== undefined;
  if (json) io.stderr(JSON.stringify({ message_type: 'exit_error', code, message }) + '\n');
  else io.stderr(`Fatal: ${message}\n`);
  if (!known && io.env.RESTIC_TS_DEBUG) io.stderr(String((err as Error)?.stack) + '\n');
  return code;
}
