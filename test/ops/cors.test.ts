import { createReadStream, existsSync, mkdirSync, readFileSync, realpathSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve, sep } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApplication, createClient } from "../helpers/fixtures.js";
import { describeWithBrowser, launchChromium } from "../helpers/browser.js";
import { startServer, type TestServer } from "../helpers/server.js";

const ALLOWED = "https://app.example";

describe("CORS headers and preflight", () => {
  let server: TestServer;
  let creds: { clientId: string; clientSecret: string };
  beforeAll(async () => {
    server = await startServer();
    creds = await createClient(server.app, await createApplication(server.app), { webOrigins: [`${ALLOWED}/`] });
  });
  afterAll(() => server.dispose());

  const preflight = (path: string, origin: string, headers = "content-type, connect-protocol-version") =>
    fetch(`${server.httpUrl}${path}`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": headers },
    });

  it("answers a preflight from a listed origin on the token, userinfo and revocation endpoints and Connect routes", async () => {
    for (const path of ["/oidc/token", "/oidc/userinfo", "/oidc/revoke", "/tessera.v1.TokenService/IssueClientToken"]) {
      const res = await preflight(path, ALLOWED);
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
      expect(res.headers.get("access-control-allow-methods")).toContain("POST");
      const allowed = res.headers.get("access-control-allow-headers")!;
      for (const h of ["connect-protocol-version", "connect-timeout-ms", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization", "content-type", "x-request-id"]) {
        expect(allowed).toContain(h);
      }
      expect(res.headers.get("vary")).toContain("Origin");
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    }
  });

  it("refuses a preflight from an unlisted origin, and adds no CORS headers to its requests", async () => {
    const res = await preflight("/oidc/token", "https://evil.example");
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("cache-control")).toBe("no-store");
    const token = await fetch(`${server.httpUrl}/oidc/token`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: creds.clientId, client_secret: creds.clientSecret }),
    });
    expect(token.status).toBe(200);
    expect(token.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("a listed origin gets Allow-Origin and the exposed headers on real answers", async () => {
    const res = await fetch(`${server.httpUrl}/tessera.v1.TokenService/IssueClientToken`, {
      method: "POST",
      headers: { origin: ALLOWED, "content-type": "application/json" },
      body: JSON.stringify({ clientId: creds.clientId, clientSecret: "wrong" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(res.headers.get("access-control-expose-headers")).toBe("grpc-status, grpc-message, grpc-status-details-bin, x-request-id");
  });

  it("JWKS and discovery are readable from any origin", async () => {
    for (const path of ["/oidc/jwks", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]) {
      const res = await fetch(`${server.httpUrl}${path}`, { headers: { origin: "https://anyone.example" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
    }
  });

  it("everything else stays same-origin", async () => {
    for (const path of ["/healthz", "/oidc/introspect", "/metrics"]) {
      const res = await fetch(`${server.httpUrl}${path}`, { headers: { origin: ALLOWED } });
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    }
    expect((await preflight("/oidc/introspect", ALLOWED)).headers.get("access-control-allow-origin")).toBeNull();
  });

  it("follows changes: a client's new origin is allowed after the caches are invalidated", async () => {
    const later = "http://localhost:7777";
    expect((await preflight("/oidc/token", later)).status).toBe(403);
    await createClient(server.app, await createApplication(server.app), { webOrigins: [later] });
    server.app.core.invalidateCaches();
    expect((await preflight("/oidc/token", later)).status).toBe(204);
  });
});

/** The ESM entry points of a package's `exports`, as import map entries under `/m/`. */
function importMapEntries(pkg: string): Record<string, string> {
  const manifest = JSON.parse(readFileSync(join("node_modules", pkg, "package.json"), "utf8")) as { exports: Record<string, { import: string | { default: string } }> };
  const entries: Record<string, string> = {};
  for (const [sub, target] of Object.entries(manifest.exports)) {
    if (typeof target !== "object" || target === null || !("import" in target)) continue;
    const file = typeof target.import === "string" ? target.import : target.import.default;
    entries[join(pkg, sub)] = `/m/${pkg}/${file.replace(/^\.\//, "")}`;
  }
  return entries;
}

const PAGE_SCRIPT = `
import { createClient, ConnectError } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { TokenService } from "/gen/tessera/v1/token_service_pb.js";

window.tessera = async (issuer, clientId, clientSecret) => {
  const out = {};
  try {
    const res = await fetch(issuer + "/oidc/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret }),
    });
    const body = await res.json();
    out.fetch = { status: res.status, tokenType: body.token_type, hasToken: typeof body.access_token === "string", requestId: res.headers.get("x-request-id") };
  } catch (err) {
    out.fetch = { error: String(err) };
  }
  try {
    const client = await createClient(TokenService, createConnectTransport({ baseUrl: issuer }));
    const jwks = await client.getJwks({});
    const issued = await client.issueClientToken({ clientId, clientSecret });
    let denied;
    try {
      await client.issueClientToken({ clientId, clientSecret: "wrong" });
    } catch (err) {
      denied = ConnectError.from(err).code;
    }
    out.connect = { keys: jwks.keys.map((k) => k.kid), hasToken: issued.accessToken.length > 0, deniedCode: denied };
  } catch (err) {
    out.connect = { error: String(err) };
  }
  document.body.textContent = JSON.stringify(out, null, 2);
  return out;
};
`;

describeWithBrowser("a browser app on another origin (headless Chromium, connect-web)", () => {
  let server: TestServer;
  let browser: Browser;
  let allowedPage: Server;
  let otherPage: Server;
  let allowedOrigin: string;
  let otherOrigin: string;
  let creds: { clientId: string; clientSecret: string };
  let issuer: string;

  /** A tiny static server: the page, the ESM files of three packages, the compiled gen/ stubs. */
  function pageServer(): Promise<Server> {
    const imports = { ...importMapEntries("@connectrpc/connect"), ...importMapEntries("@connectrpc/connect-web"), ...importMapEntries("@bufbuild/protobuf") };
    const html = `<!doctype html><html><head><title>tessera CORS test</title>
<script type="importmap">${JSON.stringify({ imports })}</script>
<script type="module">${PAGE_SCRIPT}</script></head><body>loading</body></html>`;
    const roots: [string, string][] = [
      ["/m/", realpathSync("node_modules")],
      ["/gen/", resolve("dist/gen")],
    ];
    const server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
      if (path === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        return res.end(html);
      }
      for (const [prefix, root] of roots) {
        if (!path.startsWith(prefix)) continue;
        const file = resolve(root, path.slice(prefix.length));
        if (file.startsWith(root + sep) && file.endsWith(".js") && existsSync(file)) {
          res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
          return createReadStream(file).pipe(res);
        }
      }
      res.writeHead(404).end();
    });
    return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server)));
  }
  const originOf = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

  beforeAll(async () => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
    mkdirSync("test-output", { recursive: true });
    allowedPage = await pageServer();
    otherPage = await pageServer();
    allowedOrigin = originOf(allowedPage);
    otherOrigin = originOf(otherPage);
    server = await startServer();
    issuer = server.httpUrl.replace("localhost", "127.0.0.1");
    creds = await createClient(server.app, await createApplication(server.app), { webOrigins: [allowedOrigin] });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => allowedPage?.close(r));
    await new Promise((r) => otherPage?.close(r));
    await server?.dispose();
  });

  async function runPage(origin: string, screenshot: string) {
    const page = await browser.newPage();
    try {
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => typeof (globalThis as unknown as { tessera?: unknown }).tessera === "function");
      const out = (await page.evaluate(
        ([iss, id, secret]) => (globalThis as unknown as { tessera: (a: string, b: string, c: string) => Promise<unknown> }).tessera(iss!, id!, secret!),
        [issuer, creds.clientId, creds.clientSecret],
      )) as { fetch: Record<string, unknown>; connect: Record<string, unknown> };
      await page.screenshot({ path: join("test-output", screenshot) });
      return out;
    } finally {
      await page.close();
    }
  }

  it("a listed origin gets a token with fetch and calls TokenService with connect-web", async () => {
    const out = await runPage(allowedOrigin, "cors-allowed.png");
    expect(out.fetch).toMatchObject({ status: 200, tokenType: "Bearer", hasToken: true, requestId: expect.any(String) });
    expect(out.connect).toEqual({ keys: server.app.core.keys.jwks().map((k) => k.kid), hasToken: true, deniedCode: 16 });
  });

  it("an origin no client lists is refused by the browser", async () => {
    const out = await runPage(otherOrigin, "cors-refused.png");
    expect(out.fetch.error).toMatch(/TypeError: Failed to fetch/);
    expect(out.connect.error).toMatch(/ConnectError|Failed to fetch/);
  });
});
