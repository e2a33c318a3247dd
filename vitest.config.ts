import { defineConfig } from 'vitest/config';

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
    minWorkers: 1,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'src/**/*.test.ts'] } },
      { extends: true, test: { name: 'interop', include: ['test/interop/**/*.test.ts'] } },
      { extends: true, test: { name: 'backends', include: ['test/backends/**/*.test.ts'] } },
      { extends: true, test: { name: 'cli', include: ['test/cli/**/*.test.ts'] } },
    ],
  },
});
