// `npm start` on a fresh clone: compile once when dist/ is missing or older than the sources.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const newest = (dir) =>
  readdirSync(dir).reduce((max, name) => {
    const path = join(dir, name);
    const st = statSync(path);
    return Math.max(max, st.isDirectory() ? newest(path) : st.mtimeMs);
  }, 0);

const stamp = "dist/src/main.js";
if (!existsSync(stamp) || statSync(stamp).mtimeMs < Math.max(newest("src"), newest("gen"))) {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
  chmodSync("dist/src/cli.js", 0o755);
}
