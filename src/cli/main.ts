/**
 * restic-ts command line: restic's words and exit codes. Errors become one human line on
 * stderr (a JSON object under --json), never a stack trace.
 */
import { AbortedError, ResticError, UsageError, ExitCode } from '../errors.js';
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
  const { signal } = commandController();
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
      signal,
      env: io.env,
      stdout: io.stdout,
      stderr: io.stderr,
      json: !!opts['json'],
      quiet: !!opts['quiet'],
      commands: loadCommands,
    };
    const code = await cmd.run(ctx, args);
    // a command that finished anyway after the signal still reports it, as restic does
    if (signal.aborted) throw signal.reason;
    return code;
  } catch (err) {
    // the signal's line was the message; restic's exit_error object still follows under --json
    if (signal.aborted) return json ? reportError(new AbortedError('context canceled'), io, true) : SIGNAL_EXIT_CODE;
    return reportError(err, io, json);
  } finally {
    // a signal from now on (while the output drains) ends the process at once
    if (current?.signal === signal) current = undefined;
    // locks a command left behind on its way out of a signal
    if (signal.aborted) await RepositoryLock.releaseAll();
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
 * restic >= 0.17 exits 130 for a cancelled command, whether SIGINT or SIGTERM cancelled it
 * (its doc's exit code table); restic 0.14 handled SIGINT only (130) and died of SIGTERM (143).
 */
const SIGNAL_EXIT_CODE = ExitCode.Interrupted;

/** If the command has not ended this long after the signal, its lock is released and the process exits. */
const SIGNAL_GRACE_MS = 2500;

/** The running command's controller: SIGINT/SIGTERM abort it. */
let current: AbortController | undefined;

/** A controller for the command about to run (main's), aborted by the signal handler. */
function commandController(): AbortController {
  current = new AbortController();
  return current;
}

/**
 * SIGINT/SIGTERM cancel the running command, as restic's cleanup handler cancels its context:
 * one line on stderr, the command's signal aborts, so it stops between steps, writes and
 * deletes nothing more (its backends refuse), releases its lock and removes its temp files,
 * and main returns 130. Should it not end within SIGNAL_GRACE_MS, every held lock is released
 * and the process exits; a second signal exits at once.
 */
export function installSignalHandlers(io: Pick<Io, 'stderr'>, exit: (code: number) => void = (c) => process.exit(c)): void {
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    // a command with its own handler (rest-server's graceful stop) decides for itself
    if (process.listenerCount(sig) > 1) return;
    if (signalled) return exit(SIGNAL_EXIT_CODE);
    signalled = true;
    io.stderr(`signal ${SIGNAL_NAMES[sig] ?? sig} received, cleaning up\n`);
    if (current && !current.signal.aborted) current.abort(new AbortedError(`${sig} received`));
    const stop = () => void RepositoryLock.releaseAll().finally(() => exit(SIGNAL_EXIT_CODE));
    if (!current) return stop();
    setTimeout(stop, SIGNAL_GRACE_MS).unref();
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
