import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // restic calls are CPU heavy (scrypt); two cores: keep files from starving each other.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
