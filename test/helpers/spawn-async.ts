/**
 * Child processes that do not block the event loop, for tests whose servers (REST server,
 * fault proxy) run inside the test process: spawnSync would freeze them mid-request.
 * Also our CLI's `rest-server` as its own process, for restic to use with spawnSync.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_SCRYPT } from './cli.js';
import { RESTIC } from './restic.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

/** What every child gets from this process (as in helpers/cli.ts and helpers/restic.ts). */
const baseEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, TZ: process.env.TZ });

export interface AsyncResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run a command to completion with PATH, HOME and TZ plus `env`; `limitMs` kills it (by its
 * own PID) when it hangs.
 */
export function run(cmd: string, args: string[], env: Record<string, string>, limitMs = 300_000): Promise<AsyncResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

/** Our CLI (dist/cli.js) with cheap scrypt for new keys. */
export function cliAsync(args: string[], env: Record<string, string> = {}, limitMs?: number): Promise<AsyncResult> {
  return run(process.execPath, [CLI, ...args], { RESTIC_TS_SCRYPT: TEST_SCRYPT, ...env }, limitMs);
}

/** The real restic against `repo`, like helpers/restic.ts but asynchronous. */
export function resticAsync(
  repo: string,
  password: string,
  args: string[],
  env: Record<string, string> = {},
  limitMs?: number,
): Promise<AsyncResult> {
  return run(RESTIC, ['-r', repo, '--no-cache', ...args], { RESTIC_PASSWORD: password, ...env }, limitMs);
}

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** What the server logged so far. */
  log(): string;
  /** SIGTERM (or the given signal), then wait for the exit; SIGKILL after 20 s. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; log: string }>;
}

/**
 * `restic-ts rest-server ARGS --listen 127.0.0.1:0` as a child process; resolves once it
 * logs its URL.
 */
export function startRestServerProcess(args: string[]): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [CLI, 'rest-server', '--listen', '127.0.0.1:0', ...args], {
      env: baseEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    let started = false;
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rest-server did not start:\n${log}`));
    }, 30_000);
    child.on('error', reject);
    void exited.then((code) => {
      if (!started) {
        clearTimeout(timer);
        reject(new Error(`rest-server exited with ${code}:\n${log}`));
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      log += s;
      const m = /listening on (https?:\/\/\S+)/.exec(log);
      if (m && !started) {
        started = true;
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          pid: child.pid!,
          log: () => log,
          async stop(signal: NodeJS.Signals = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
            const code = await exited;
            clearTimeout(kill);
            return { code, log };
          },
        });
      }
    });
  });
}
