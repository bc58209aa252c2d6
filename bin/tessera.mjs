#!/usr/bin/env node
// The `tessera` bin. In a source checkout (`npx tessera` before any build) it first compiles dist/ when
// it is missing or older than src/ and gen/, as `npm start` does; an installed package just runs.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
if (existsSync(join(root, "tsconfig.build.json")) && existsSync(join(root, "src"))) {
  // Compiler output goes to stderr: stdout is the command's (`--json`).
  execFileSync(process.execPath, [join(root, "scripts", "ensure-build.mjs")], { cwd: root, stdio: ["ignore", 2, 2] });
}
const { run } = await import(pathToFileURL(join(root, "dist", "src", "cli.js")).href);
const code = await run(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
