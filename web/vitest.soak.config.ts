import { defineConfig } from 'vitest/config';

// The long-open tab measurement (e2e/*.soak.ts), run by hand: `npm run soak`.
export default defineConfig({
  test: {
    include: ['e2e/**/*.soak.ts'],
    environment: 'node',
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
