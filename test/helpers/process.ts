import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));

export interface RunningProcess {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  httpUrl: string;
  grpcPort: number;
  exited: Promise<number | null>;
}

/** `node dist/src/main.js` as the README runs it, on free ports; resolves once it prints where it serves. */
export async function startProcess(env: Record<string, string>, command: [string, ...string[]] = [process.execPath, "dist/src/main.js"]): Promise<RunningProcess> {
  const child = spawn(command[0], command.slice(1), {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0", TESSERA_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let stdout = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const { httpUrl, grpcPort } = await new Promise<{ httpUrl: string; grpcPort: number }>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /serving HTTP on ([^\s:]+):(\d+) and gRPC on [^\s:]+:(\d+)/.exec(stderr);
      if (m) {
        clearInterval(timer);
        resolve({ httpUrl: `http://${m[1]}:${m[2]}`, grpcPort: Number(m[3]) });
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`exited ${code}: ${stderr}`));
    });
  });
  return { child, stderr: () => stderr, stdout: () => stdout, httpUrl, grpcPort, exited };
}

/** Runs the entry point to its exit; for configurations that must not start. */
export function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, ["dist/src/main.js"], { cwd: root, env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr, stdout })));
}

/** The `worker` fields of the JSON log lines that mention `path`, sorted and without repeats. */
export function loggedWorkers(stdout: string, path: string): number[] {
  const workers = new Set<number>();
  for (const line of stdout.split("\n")) {
    if (!line.includes(path)) continue;
    try {
      const worker = (JSON.parse(line) as { worker?: number }).worker;
      if (worker !== undefined) workers.add(worker);
    } catch {
      // Not a JSON line.
    }
  }
  return [...workers].sort();
}
