// Fails when gen/ differs from what `buf generate` writes now.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, relative, resolve } from "node:path";

const out = mkdtempSync(join(tmpdir(), "tessera-gen-"));
try {
  // buf and its local protoc-gen-es plugin come from node_modules/.bin, with or without `npm run`.
  const bin = resolve("node_modules", ".bin");
  execFileSync(join(bin, "buf"), ["generate", "-o", out], { stdio: "inherit", env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH}` } });
  const files = (dir) =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : [path];
    });
  const want = new Map(files(join(out, "gen")).map((f) => [relative(join(out, "gen"), f), readFileSync(f, "utf8")]));
  const have = new Map(files("gen").map((f) => [relative("gen", f), readFileSync(f, "utf8")]));
  const drift = [...new Set([...want.keys(), ...have.keys()])].filter((k) => want.get(k) !== have.get(k));
  if (drift.length > 0) {
    console.error(`gen/ is out of date (run \`npm run generate\`): ${drift.join(", ")}`);
    process.exit(1);
  }
  console.log(`gen/ is up to date (${want.size} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
