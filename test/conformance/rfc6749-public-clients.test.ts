// Public clients (RFC 6749 §2.1, RFC 7636, RFC 8252; CONTRACT §7, issue #11 item 11):
// - CreateClient with token_endpoint_auth_method "none" creates one: no secret created or returned,
//   grant types authorization_code and refresh_token only (client_credentials is INVALID_ARGUMENT);
// - RotateClientSecret on it is FAILED_PRECONDITION; the method is immutable; unknown methods are refused;
// - client_secret_post clients keep accepting Basic as well (CONTRACT §6);
// - the full code flow with a created public client: PKCE S256 required at /oidc/auth, code exchange and
//   refresh with client_id only, and no client_credentials token;
// - the CLI creates one with `tessera client create <app> --public` (no secret printed).
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminClients, Code, DOORS, expectFailure, managementToken, unique, type Admin } from "../admin/admin-helpers.js";
import { postForm, startServer, TestClock, type TestServer } from "../helpers/server.js";
import { CookieBrowser, completeLogin } from "../oidc/oidc-helpers.js";

const REDIRECT = "http://127.0.0.1:8123/callback";

let server: TestServer;
let mgmt: string;

beforeAll(async () => {
  server = await startServer();
  mgmt = await managementToken(server);
});
afterAll(() => server.dispose());

describe.each(DOORS)("public clients through the Admin API over %s", (door) => {
  let admin: Admin;
  let appId: string;
  beforeAll(async () => {
    admin = adminClients(server, door);
    const { application } = await admin.applications.createApplication({ application: { displayName: unique("spa") } }, mgmt);
    appId = application!.id;
  });
  afterAll(() => admin.close());

  it("creates a public client without a secret, limited to the code and refresh grants", async () => {
    const res = await admin.applications.createClient({ client: { applicationId: appId, tokenEndpointAuthMethod: "none", redirectUris: [REDIRECT] } }, mgmt);
    expect(res.clientSecret).toBe("");
    expect(res.client).toMatchObject({ tokenEndpointAuthMethod: "none", grantTypes: ["authorization_code", "refresh_token"] });
    expect((await admin.applications.getClient({ id: res.client!.id }, mgmt)).client!.tokenEndpointAuthMethod).toBe("none");
    const stored = (await server.app.core.storage.clients.findById(res.client!.id))!;
    expect(stored.secretHash).toBeUndefined();
  });

  it("refuses client_credentials for a public client, on create and update", async () => {
    await expectFailure(
      admin.applications.createClient({ client: { applicationId: appId, tokenEndpointAuthMethod: "none", grantTypes: ["authorization_code", "client_credentials"] } }, mgmt),
      Code.InvalidArgument,
      /client_credentials/,
    );
    const { client } = await admin.applications.createClient({ client: { applicationId: appId, tokenEndpointAuthMethod: "none" } }, mgmt);
    await expectFailure(
      admin.applications.updateClient({ client: { id: client!.id, grantTypes: ["client_credentials"] }, updateMask: { paths: ["grant_types"] } }, mgmt),
      Code.InvalidArgument,
      /client_credentials/,
    );
  });

  it("refuses to rotate a public client's secret", async () => {
    const { client } = await admin.applications.createClient({ client: { applicationId: appId, tokenEndpointAuthMethod: "none" } }, mgmt);
    await expectFailure(admin.applications.rotateClientSecret({ id: client!.id }, mgmt), Code.FailedPrecondition, /public.*no secret to rotate/);
  });

  it("keeps token_endpoint_auth_method fixed and refuses unknown methods", async () => {
    const { client } = await admin.applications.createClient({ client: { applicationId: appId } }, mgmt);
    expect(client!.tokenEndpointAuthMethod).toBe("client_secret_basic");
    await expectFailure(
      admin.applications.updateClient({ client: { id: client!.id, tokenEndpointAuthMethod: "none" }, updateMask: { paths: ["token_endpoint_auth_method"] } }, mgmt),
      Code.InvalidArgument,
      /token_endpoint_auth_method cannot be changed/,
    );
    await expectFailure(
      admin.applications.createClient({ client: { applicationId: appId, tokenEndpointAuthMethod: "private_key_jwt" } }, mgmt),
      Code.InvalidArgument,
      /token_endpoint_auth_method "private_key_jwt" must be one of/,
    );
  });

  it("a client_secret_post client still authenticates with Basic too", async () => {
    const { client, clientSecret } = await admin.applications.createClient({ client: { applicationId: appId, tokenEndpointAuthMethod: "client_secret_post" } }, mgmt);
    expect(client!.tokenEndpointAuthMethod).toBe("client_secret_post");
    const post = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials", client_id: client!.id, client_secret: clientSecret });
    expect(post.status).toBe(200);
    const basic = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, server.basic(client!.id, clientSecret));
    expect(basic.status).toBe(200);
  });
});

describe("a public client created through the Admin API runs the code flow with PKCE", () => {
  it("requires PKCE S256, exchanges the code and refreshes with client_id only, and gets no client token", async () => {
    const admin = adminClients(server, "connect");
    const { application } = await admin.applications.createApplication({ application: { displayName: unique("native") } }, mgmt);
    const { client } = await admin.applications.createClient(
      { client: { applicationId: application!.id, tokenEndpointAuthMethod: "none", redirectUris: [REDIRECT] } },
      mgmt,
    );
    const clientId = client!.id;
    const username = unique("ada");
    await admin.users.createUser({ user: { username, applicationIds: [application!.id] }, password: "correct horse battery" }, mgmt);

    const base = { client_id: clientId, redirect_uri: REDIRECT, response_type: "code", scope: "openid offline_access", prompt: "consent", state: "s1" };
    const noPkce = await fetch(`${server.httpUrl}/oidc/auth?${new URLSearchParams(base)}`, { redirect: "manual" });
    expect(noPkce.status).toBe(303);
    const refused = new URL(noPkce.headers.get("location")!);
    expect(refused.searchParams.get("error")).toBe("invalid_request");
    expect(refused.searchParams.get("error_description")).toMatch(/code_challenge/);

    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const url = `${server.httpUrl}/oidc/auth?${new URLSearchParams({ ...base, code_challenge: challenge, code_challenge_method: "S256" })}`;
    const back = await completeLogin(new CookieBrowser(server.httpUrl), url, { username, password: "correct horse battery" });
    const code = back.searchParams.get("code");
    expect(code, back.toString()).toBeTruthy();

    const exchanged = await postForm(`${server.httpUrl}/oidc/token`, {
      grant_type: "authorization_code",
      client_id: clientId,
      code: code!,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    });
    const tokens = (await exchanged.json()) as { access_token: string; id_token: string; refresh_token: string };
    expect(exchanged.status, JSON.stringify(tokens)).toBe(200);
    expect(tokens.refresh_token).toEqual(expect.any(String));

    const refreshed = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "refresh_token", client_id: clientId, refresh_token: tokens.refresh_token });
    const next = (await refreshed.json()) as { access_token: string; refresh_token: string };
    expect(refreshed.status, JSON.stringify(next)).toBe(200);
    expect(next.refresh_token).not.toBe(tokens.refresh_token);

    const clientCredentials = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials", client_id: clientId });
    expect(clientCredentials.status).toBe(401);
    expect(await clientCredentials.json()).toMatchObject({ error: "invalid_client" });
    admin.close();
  });
});

describe("tessera client create --public", () => {
  const cli = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ["dist/src/cli.js", ...args], { env: { PATH: process.env.PATH, ...env } }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : 1, stdout, stderr }),
      );
    });

  beforeAll(() => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
  }, 300_000);

  it("creates a public client and prints no secret; --help documents it", async () => {
    const local = await startServer({ clock: new TestClock(Date.now()) });
    try {
      const env = { TESSERA_DATA_DIR: local.dataDir };
      expect((await cli(["client", "create", "--help"], env)).stdout).toContain("--public");
      const app = JSON.parse((await cli(["app", "create", "Native", "--json"], env)).stdout) as { id: string };
      const created = await cli(["client", "create", app.id, "--public", "--redirect-uri", REDIRECT, "--json"], env);
      expect(created).toMatchObject({ code: 0, stderr: "" });
      const out = JSON.parse(created.stdout) as Record<string, unknown>;
      expect(out).toMatchObject({ token_endpoint_auth_method: "none", application_id: app.id });
      expect(out).not.toHaveProperty("client_secret");
      const stored = (await local.app.core.storage.clients.findById(out.client_id as string))!;
      expect(stored).toMatchObject({ tokenEndpointAuthMethod: "none", secretHash: undefined, grantTypes: ["authorization_code", "refresh_token"] });
      const refused = await cli(["client", "create", app.id, "--public", "--grant-type", "client_credentials"], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("client_credentials");
    } finally {
      await local.dispose();
    }
  });

  it("--public with a contradicting --auth-method is a usage error (exit 2) and creates nothing", async () => {
    const local = await startServer({ clock: new TestClock(Date.now()) });
    try {
      const env = { TESSERA_DATA_DIR: local.dataDir };
      const app = JSON.parse((await cli(["app", "create", "Native", "--json"], env)).stdout) as { id: string };
      const exitCode = await new Promise<number | null>((resolve) =>
        execFile(process.execPath, ["dist/src/cli.js", "client", "create", app.id, "--public", "--auth-method", "client_secret_post"], { env: { PATH: process.env.PATH, ...env } }, (err) =>
          resolve(err === null ? 0 : (err.code as number | null)),
        ),
      );
      expect(exitCode).toBe(2);
      expect(JSON.parse((await cli(["client", "list", "--app", app.id, "--json"], env)).stdout)).toEqual([]);
      // --public with --auth-method none agrees with itself.
      expect((await cli(["client", "create", app.id, "--public", "--auth-method", "none", "--json"], env)).code).toBe(0);
    } finally {
      await local.dispose();
    }
  });
});
