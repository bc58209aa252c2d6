import { accessSync, constants } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { describe, it } from "vitest";

const SYSTEM_CHROMIUMS = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The Chromium the browser tests drive: CHROMIUM_PATH when set (and only it), else a system Chromium,
 * else the one `npx playwright-core install chromium` downloads. A string saying why when none is there.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): { path: string } | { missing: string } {
  const configured = env.CHROMIUM_PATH;
  if (configured !== undefined && configured !== "") {
    return executable(configured) ? { path: configured } : { missing: `CHROMIUM_PATH=${configured} is not an executable file` };
  }
  const candidates = [...SYSTEM_CHROMIUMS];
  try {
    candidates.push(chromium.executablePath());
  } catch {
    // playwright-core knows no download location for this platform.
  }
  const found = candidates.find(executable);
  return found !== undefined
    ? { path: found }
    : { missing: `no Chromium at ${candidates.join(", ")} (install one: apt-get install chromium, or npx playwright-core install chromium; or set CHROMIUM_PATH)` };
}

const browser = findChromium();

/**
 * `describe` for tests that need a real browser. Without one they do not run: a loud line on stderr
 * and a skipped test naming the reason; with TESSERA_REQUIRE_BROWSER=1 (CI) a failing test instead.
 */
export function describeWithBrowser(name: string, body: () => void): void {
  if ("path" in browser) {
    describe(name, body);
    return;
  }
  const message = `BROWSER TESTS NOT RUN: "${name}": ${browser.missing}`;
  if (process.env.TESSERA_REQUIRE_BROWSER === "1") {
    describe(name, () => {
      it("has a Chromium to run in (TESSERA_REQUIRE_BROWSER=1)", () => {
        throw new Error(message);
      });
    });
    return;
  }
  process.stderr.write(`\n*** ${message} ***\n\n`);
  describe(name, () => {
    it.skip(`${message}`, () => {});
  });
}

export function launchChromium(): Promise<Browser> {
  if (!("path" in browser)) throw new Error(browser.missing);
  return chromium.launch({
    executablePath: browser.path,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
