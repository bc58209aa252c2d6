import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";

/** `vitest run` as a child process, as `npm test` runs it; without this run's own VITEST* variables. */
function vitest(args: string[], env: Record<string, string> = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "TESSERA_REQUIRE_BROWSER" && k !== "CHROMIUM_PATH"));
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, ["node_modules/vitest/vitest.mjs", "run", ...args], {
      env: { ...base, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    child.on("exit", (code) => resolve({ code, out }));
  });
}
const summary = (out: string) => /^vitest: .*$/m.exec(out)?.[0];

describe("npm test's closing line", () => {
  it("counts a file that fails to load and a suite whose beforeAll throws as failures", async () => {
    const { code, out } = await vitest(["--config", "test/fixtures/summary/vitest.config.ts"]);
    expect(code).toBe(1);
    expect(summary(out)).toMatch(/^vitest: 1 passed, 2 failed, 1 skipped/);
  });
});

describe("browser tests without a browser", () => {
  it("do not run, and say so loudly", async () => {
    const { code, out } = await vitest(["test/oidc/browser.test.ts"], { CHROMIUM_PATH: "/nonexistent/chromium" });
    expect(code).toBe(0);
    expect(out).toContain("BROWSER TESTS NOT RUN");
    expect(out).toContain("CHROMIUM_PATH=/nonexistent/chromium is not an executable file");
    expect(summary(out)).toBe("vitest: 0 passed, 0 failed, 1 skipped");
  });

  it("fail when TESSERA_REQUIRE_BROWSER=1 (as .ci/run sets it)", async () => {
    const { code, out } = await vitest(["test/oidc/browser.test.ts"], { CHROMIUM_PATH: "/nonexistent/chromium", TESSERA_REQUIRE_BROWSER: "1" });
    expect(code).toBe(1);
    expect(summary(out)).toBe("vitest: 0 passed, 1 failed, 0 skipped");
  });
});
