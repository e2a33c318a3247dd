import fs from 'node:fs';
import { defineConfig } from 'vitest/config';

/**
 * Unit tests keep their temp dirs in RAM where there is a tmpfs: the local backend fsyncs every
 * file and directory as restic does, which on a busy disk made backend-local alone take 10-20 s
 * (1.5 s on tmpfs). The code paths are the same; only the disk is faster.
 */
function ramTmpDir(): Record<string, string> {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return { TMPDIR: '/dev/shm' };
  } catch {
    return {};
  }
}

/** A test file left directly in test/ would belong to no project and silently not run. */
const stray = fs.readdirSync(new URL('./test/', import.meta.url)).filter((f) => /\.test\.[cm]?[jt]s$/.test(f));
if (stray.length > 0) throw new Error(`move these into test/unit, test/interop, test/backends or test/cli: ${stray.join(', ')}`);

/**
 * Four projects, by what a test needs besides this process:
 * - unit: nothing (in-memory backend, local temp dirs); `npm test` runs only this one.
 * - interop: the real restic binary.
 * - backends: sshd, Ceph radosgw or our REST server.
 * - cli: our CLI (dist/cli.js) as a child process, without restic.
 * `npm run test:all` and scripts/test-all.sh (CI) run all four.
 */
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // restic calls are CPU heavy (scrypt); two cores: keep files from starving each other.
    maxWorkers: 2,
    globalSetup: ['test/helpers/cache-home.ts'],
    minWorkers: 1,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], env: ramTmpDir() } },
      { extends: true, test: { name: 'interop', include: ['test/interop/**/*.test.ts'] } },
      { extends: true, test: { name: 'backends', include: ['test/backends/**/*.test.ts'] } },
      { extends: true, test: { name: 'cli', include: ['test/cli/**/*.test.ts'] } },
    ],
  },
});
