/** Runs the real restic binary (Debian's 0.14.0) against a repository. */
import { spawnSync } from 'node:child_process';

export const RESTIC = process.env.RESTIC_BIN ?? 'restic';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function restic(repo: string, password: string, args: string[], extraEnv: Record<string, string> = {}): RunResult {
  const r = spawnSync(RESTIC, ['-r', repo, '--no-cache', ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: process.env.TZ, RESTIC_PASSWORD: password, ...extraEnv },
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Like restic() but throws with restic's output when it fails. */
export function resticOk(repo: string, password: string, args: string[], extraEnv: Record<string, string> = {}): string {
  const r = restic(repo, password, args, extraEnv);
  if (r.code !== 0) throw new Error(`restic ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** For a file's beforeAll: its tests fail at once when restic is missing (a skip would hide a missing install). */
export function requireRestic(): void {
  if (!hasRestic()) throw new Error('restic 0.14 must be installed (apt-get install restic)');
}

export function hasRestic(): boolean {
  const r = spawnSync(RESTIC, ['version'], { encoding: 'utf8' });
  return r.status === 0;
}
