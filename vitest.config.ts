import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
    // Integration tests start real servers and child processes; a 2-core CI machine needs headroom.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    reporters: ["default", ["json", { outputFile: "vitest-report.json" }]],
  },
});
