import type { Reporter, SerializedError, TestModule, TestRunEndReason } from "vitest/node";

/**
 * Ends the run with a plain `N passed, N failed, N skipped` line that any CI can read. A file that
 * fails to load, a suite whose hook throws and an unhandled error each count as one failure, so the
 * line never says `0 failed` when vitest exits 1.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>, reason: TestRunEndReason): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    let brokenSuites = 0;
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") counts.passed += 1;
        else if (state === "failed") counts.failed += 1;
        else counts.skipped += 1;
      }
      if (module.errors().length > 0) brokenSuites += 1;
      for (const suite of module.children.allSuites()) if (suite.errors().length > 0) brokenSuites += 1;
    }
    counts.failed += brokenSuites + unhandledErrors.length;
    if (reason === "failed" && counts.failed === 0) counts.failed = 1;
    const detail = brokenSuites + unhandledErrors.length > 0 ? ` (${brokenSuites} suites failed to run, ${unhandledErrors.length} unhandled errors)` : "";
    process.stdout.write(`\nvitest: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped${detail}\n`);
  }
}
