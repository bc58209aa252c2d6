import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../helpers/server.js";

const run = promisify(execFile);
const REPO = resolve(".");

const SCRIPT = `
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { TokenService } from "./gen/tessera/v1/token_service_pb.js";

const [httpUrl, grpcUrl, clientId, clientSecret] = process.argv.slice(2);
const viaConnect = createClient(TokenService, createConnectTransport({ baseUrl: httpUrl, httpVersion: "1.1" }));
const viaGrpc = createClient(TokenService, createGrpcTransport({ baseUrl: grpcUrl }));
const a = await viaConnect.issueClientToken({ clientId, clientSecret });
const b = await viaGrpc.issueClientToken({ clientId, clientSecret });
console.log(JSON.stringify({ connect: a.tokenType, grpc: b.tokenType, expiresIn: Number(a.expiresIn), jwt: a.accessToken.split(".").length }));
`;

describe("typed clients generated from proto/ in another folder", () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    server = await startServer();
    dir = mkdtempSync(join(tmpdir(), "tessera-client-"));
  });
  afterAll(async () => {
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("buf generate with protoc-gen-es, then IssueClientToken over Connect and gRPC", async () => {
    writeFileSync(
      join(dir, "buf.gen.yaml"),
      ["version: v2", "plugins:", `  - local: ${join(REPO, "node_modules/.bin/protoc-gen-es")}`, "    out: gen", "    opt:", "      - target=js", "      - import_extension=js", ""].join("\n"),
    );
    await run(join(REPO, "node_modules/.bin/buf"), ["generate", join(REPO, "proto")], { cwd: dir });
    expect(existsSync(join(dir, "gen/tessera/v1/token_service_pb.js"))).toBe(true);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
    symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
    writeFileSync(join(dir, "client.mjs"), SCRIPT);
    const { stdout } = await run(process.execPath, ["client.mjs", server.httpUrl, `http://${server.grpcAddress}`, server.bootstrap.client_id, server.bootstrap.client_secret], { cwd: dir });
    expect(JSON.parse(stdout)).toEqual({ connect: "Bearer", grpc: "Bearer", expiresIn: 3600, jwt: 3 });
  });
});
