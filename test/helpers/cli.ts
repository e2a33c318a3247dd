/** Runs our CLI (dist/cli.js, built by `npm test`) as a child process. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Cheap scrypt parameters for keys our CLI writes in tests. */
export const TEST_SCRYPT = '1024:8:1';

export function cli(args: string[], env: Record<string, string> = {}, input?: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: process.env.TZ, RESTIC_TS_SCRYPT: TEST_SCRYPT, ...env },
    encoding: 'utf8',
    input: input ?? '',
    maxBuffer: 1 << 30,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
