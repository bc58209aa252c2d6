/*
 * RFC 8414 (OAuth 2.0 Authorization Server Metadata) with an issuer that has a path (TESSERA_ISSUER=https://host/auth).
 * MUST items covered:
 * - §2 `issuer`: an https URL with no query or fragment; the configuration refuses anything else (exit 2).
 * - §3 metadata for an issuer with a path is at `/.well-known/oauth-authorization-server<path>`
 *   (and, OIDC Discovery §4, at `<issuer>/.well-known/openid-configuration`).
 * - §3.3 the `issuer` returned MUST be identical to the issuer the metadata was requested for.
 * - every endpoint URL in the metadata is under the issuer, and actually answers there.
 * Also: every endpoint answers both under the issuer's path and at the root (a proxy that strips the
 * prefix), and the hosted login pages redirect and post under the issuer's path, which works either way.
 */
import { spawn, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApplication, createClient, createUser } from "../helpers/fixtures.js";
import { jwtPayload, startServer, tempDataDir, type TestServer } from "../helpers/server.js";
import { CookieBrowser, hiddenField } from "../oidc/oidc-helpers.js";

const ISSUER = "https://id.example.test/auth";
const REDIRECT_URI = "https://rp.example/callback";
const root = join(import.meta.dirname, "..", "..");

describe("RFC 8414: an issuer with a path", () => {
  let server: TestServer;
  let base: string;
  let client: { clientId: string; clientSecret: string };
  let user: { username: string; password: string };

  beforeAll(async () => {
    server = await startServer({ env: { TESSERA_ISSUER: ISSUER } });
    base = `http://127.0.0.1:${(server.app.httpServer.address() as AddressInfo).port}`;
    const appId = await createApplication(server.app);
    client = await createClient(server.app, appId, { redirectUris: [REDIRECT_URI] });
    user = await createUser(server.app, { applicationIds: [appId] });
  });
  afterAll(() => server.dispose());

  const basic = () => server.basic(client.clientId, client.clientSecret);

  it("serves the metadata at <issuer>/.well-known/openid-configuration and /.well-known/oauth-authorization-server<path>, every URL under the issuer", async () => {
    for (const path of ["/auth/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/auth", "/.well-known/openid-configuration"]) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(200);
      const meta = (await res.json()) as Record<string, unknown>;
      expect(meta.issuer).toBe(ISSUER);
      const urls = Object.entries(meta).filter(([k]) => k.endsWith("_endpoint") || k.endsWith("_uri"));
      expect(urls.length).toBeGreaterThanOrEqual(7);
      for (const [name, url] of urls) expect(url, name).toMatch(new RegExp(`^${ISSUER}/`));
    }
    // Each advertised endpoint answers at the issuer's path on this server (not 404).
    const meta = (await (await fetch(`${base}/auth/.well-known/openid-configuration`)).json()) as Record<string, string>;
    const jwks = await fetch(meta.jwks_uri!.replace("https://id.example.test", base));
    expect(jwks.status).toBe(200);
    // The prefix is a whole path segment: /authx is not /auth.
    expect((await fetch(`${base}/authx/healthz`)).status).toBe(404);
  });

  it("answers OAuth, /cis, Connect and health endpoints both under the issuer's path and at the root", async () => {
    for (const prefix of ["/auth", ""]) {
      expect((await fetch(`${base}${prefix}/healthz`)).status, `${prefix}/healthz`).toBe(200);
      expect((await fetch(`${base}${prefix}/readyz`)).status, `${prefix}/readyz`).toBe(200);
      expect((await fetch(`${base}${prefix}/metrics`)).status, `${prefix}/metrics`).toBe(200);
      expect((await fetch(`${base}${prefix}/oidc/jwks`)).status).toBe(200);
      const token = await fetch(`${base}${prefix}/oidc/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic() },
        body: "grant_type=client_credentials",
      });
      expect(token.status, `${prefix}/oidc/token`).toBe(200);
      const { access_token } = (await token.json()) as { access_token: string };
      expect(jwtPayload(access_token).iss).toBe(ISSUER);
      const introspect = await fetch(`${base}${prefix}/oidc/introspect`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic() },
        body: new URLSearchParams({ token: access_token }),
      });
      expect(((await introspect.json()) as { active: boolean }).active).toBe(true);
      const cis = await fetch(`${base}${prefix}/cis/v1/auth/logout`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(cis.status, `${prefix}/cis`).toBe(401);
      const rpc = await fetch(`${base}${prefix}/tessera.v1.TokenService/GetJwks`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(rpc.status, `${prefix}/tessera.v1.TokenService/GetJwks`).toBe(200);
      expect(((await rpc.json()) as { keys?: unknown[] }).keys?.length).toBeGreaterThan(0);
    }
  });

  /** Runs the hosted pages; `strip` plays a proxy that forwards https://id.example.test/auth/x as /x. */
  async function codeFlow(start: string, strip: boolean): Promise<URL> {
    const browser = new CookieBrowser(base);
    const via = (location: string) => {
      expect(location.startsWith("/auth/oidc/"), location).toBe(true);
      return strip ? location.slice("/auth".length) : location;
    };
    const verifier = randomBytes(32).toString("base64url");
    const query = new URLSearchParams({
      client_id: client.clientId,
      redirect_uri: REDIRECT_URI,
      response_type: "code",
      scope: "openid",
      state: "st",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    });
    const auth = await browser.get(`${start}?${query}`);
    expect(auth.status).toBe(303);
    for (const line of auth.headers.getSetCookie()) expect(line).toMatch(/; Path=\/(;|$)/);
    const page = await (await browser.get(via(auth.headers.get("location")!))).text();
    expect(page).toContain('action="/auth/oidc/interaction/login"');
    const login = await browser.post(via("/auth/oidc/interaction/login"), {
      interaction: hiddenField(page, "interaction"),
      csrf: hiddenField(page, "csrf"),
      username: user.username,
      password: user.password,
    });
    expect(login.status).toBe(303);
    let location = login.headers.get("location")!;
    if (!location.startsWith(REDIRECT_URI)) {
      const consent = await (await browser.get(via(location))).text();
      expect(consent).toContain('action="/auth/oidc/interaction/consent"');
      const allowed = await browser.post(via("/auth/oidc/interaction/consent"), {
        interaction: hiddenField(consent, "interaction"),
        csrf: hiddenField(consent, "csrf"),
        decision: "allow",
      });
      location = allowed.headers.get("location")!;
    }
    const callback = new URL(location);
    expect(callback.searchParams.get("iss")).toBe(ISSUER);
    const token = await fetch(`${base}${strip ? "" : "/auth"}/oidc/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic() },
      body: new URLSearchParams({ grant_type: "authorization_code", code: callback.searchParams.get("code")!, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
    });
    expect(token.status).toBe(200);
    const { id_token } = (await token.json()) as { id_token: string };
    expect(jwtPayload(id_token).iss).toBe(ISSUER);
    return callback;
  }

  it("the hosted login and consent pages work under the issuer's path", async () => {
    await codeFlow("/auth/oidc/auth", false);
  });

  it("the hosted pages also work behind a proxy that strips the issuer's path", async () => {
    await codeFlow("/oidc/auth", true);
    await codeFlow("/cis/oidc/auth", true);
  });
});

describe("RFC 8414 §2: TESSERA_ISSUER is validated at start", () => {
  beforeAll(() => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { cwd: root, stdio: "inherit" });
  }, 180_000);

  it.each(["https://id.example.test/auth/", "https://id.example.test/a/../auth", "https://id.example.test/auth?x=1", "https://id.example.test/auth#f", "id.example.test/auth", "ftp://id.example.test/auth"])(
    "%s exits 2 naming TESSERA_ISSUER and writes nothing",
    async (issuer) => {
      const dataDir = join(tempDataDir(), "data");
      const child = spawn(process.execPath, ["dist/src/main.js"], {
        cwd: root,
        env: { PATH: process.env.PATH, TESSERA_DATA_DIR: dataDir, TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0", TESSERA_ISSUER: issuer },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      expect(code).toBe(2);
      expect(stderr).toContain("TESSERA_ISSUER");
      expect(existsSync(dataDir)).toBe(false);
    },
  );
});
