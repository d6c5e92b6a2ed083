import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Generous, so a loaded machine does not fail the suite; a test that hangs still fails.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
  },
});
