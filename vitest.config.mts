import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration files spawn several processes each; two cores run two files at a time well.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
