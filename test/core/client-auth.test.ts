import { afterEach, describe, expect, it, vi } from "vitest";
import { authenticateClient, readClientCredentials, type ClientCredentials } from "../../src/core/client-auth.js";
import type { ClientContext, Core } from "../../src/core/core.js";
import { Secrets } from "../../src/core/secrets.js";
import { OAuthError } from "../../src/domain/errors.js";
import { clientDefaults, type Client } from "../../src/domain/types.js";

const NOW = 1_800_000_000;
const secrets = new Secrets(Buffer.alloc(32, 7));

function clientContext(id: string, client: Partial<Client> = {}): ClientContext {
  return {
    client: {
      ...clientDefaults(NOW),
      id,
      tenantId: "default",
      applicationId: "app_1",
      displayName: "",
      secretHash: undefined,
      ...client,
    },
    application: { id: "app_1", tenantId: "default", displayName: "", management: false, createTime: NOW, updateTime: NOW },
    tenant: { id: "default", name: "default", createTime: NOW },
    defaultResource: { id: "res_1", tenantId: "default", uri: "userid-api", displayName: "", isDefault: true, scopes: [], signingAlg: undefined, createTime: NOW, updateTime: NOW },
  };
}

/** A core with just what client authentication reads: clients by id, the secrets, the clock. */
function fakeCore(...contexts: ClientContext[]): Core {
  const byId = new Map(contexts.map((c) => [c.client.id, c]));
  return { secrets, now: () => NOW, clientContext: (id: string) => byId.get(id) } as unknown as Core;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

function caught(fn: () => unknown): OAuthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OAuthError);
    return err as OAuthError;
  }
  throw new Error("expected an OAuthError");
}

async function rejected(promise: Promise<unknown>): Promise<OAuthError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(OAuthError);
    return err as OAuthError;
  }
  throw new Error("expected an OAuthError");
}

describe("readClientCredentials", () => {
  it("reads Basic credentials", () => {
    expect(readClientCredentials(basic("abc", "s3cret"), undefined, undefined)).toEqual({
      method: "client_secret_basic",
      clientId: "abc",
      clientSecret: "s3cret",
    });
  });

  it("form-url-decodes Basic user and password (RFC 6749 §2.3.1)", () => {
    const header = basic(encodeURIComponent("my:client"), "a%2Bb+c%3A%25");
    expect(readClientCredentials(header, undefined, undefined)).toMatchObject({ clientId: "my:client", clientSecret: "a+b c:%" });
  });

  it("accepts the scheme name in any case", () => {
    expect(readClientCredentials(`bAsIc ${Buffer.from("a:b").toString("base64")}`, undefined, undefined)?.method).toBe("client_secret_basic");
  });

  it("reads form credentials as client_secret_post", () => {
    expect(readClientCredentials(undefined, "abc", "s3cret")).toEqual({ method: "client_secret_post", clientId: "abc", clientSecret: "s3cret" });
  });

  it("returns a secret-less client as method none, and nothing when nothing was sent", () => {
    expect(readClientCredentials(undefined, "abc", undefined)).toEqual({ method: "none", clientId: "abc", clientSecret: undefined });
    expect(readClientCredentials(undefined, undefined, undefined)).toBeUndefined();
    expect(readClientCredentials("Bearer xyz", undefined, undefined)).toBeUndefined();
  });

  it("refuses Basic and client_secret at once", () => {
    const err = caught(() => readClientCredentials(basic("abc", "s"), "abc", "s"));
    expect(err.kind).toBe("invalid_request");
    expect(err.basicAuth).toBe(true);
  });

  it("refuses a body client_id that differs from Basic, allows the same one", () => {
    expect(caught(() => readClientCredentials(basic("abc", "s"), "other", undefined)).kind).toBe("invalid_request");
    expect(readClientCredentials(basic("abc", "s"), "abc", undefined)?.method).toBe("client_secret_basic");
  });

  it("refuses client_secret without client_id", () => {
    expect(caught(() => readClientCredentials(undefined, undefined, "s")).kind).toBe("invalid_request");
  });

  it("refuses malformed Basic as invalid_client with the Basic challenge", () => {
    for (const header of ["Basic " + Buffer.from("no-colon").toString("base64"), "Basic " + Buffer.from(":secret").toString("base64"), basic("%E0%A4%A", "x")]) {
      const err = caught(() => readClientCredentials(header, undefined, undefined));
      expect(err.kind, header).toBe("invalid_client");
      expect(err.basicAuth).toBe(true);
    }
  });
});

describe("authenticateClient", () => {
  const secret = "right-secret";
  const ctx = clientContext("c1", { secretHash: secrets.hash("client-secret", secret) });
  const core = fakeCore(ctx);
  const post = (clientId: string, clientSecret: string | undefined): ClientCredentials => ({
    method: clientSecret === undefined ? "none" : "client_secret_post",
    clientId,
    clientSecret,
  });

  afterEach(() => vi.restoreAllMocks());

  it("returns the client's context for the right secret", async () => {
    expect(await authenticateClient(core, post("c1", secret))).toBe(ctx);
    expect(await authenticateClient(core, { method: "client_secret_basic", clientId: "c1", clientSecret: secret })).toBe(ctx);
  });

  it("refuses a wrong secret and an unknown client with the same error", async () => {
    const wrong = await rejected(authenticateClient(core, post("c1", "wrong-secret")));
    const unknown = await rejected(authenticateClient(core, post("nobody", secret)));
    expect(wrong.kind).toBe("invalid_client");
    expect(unknown.kind).toBe("invalid_client");
    expect(unknown.description).toBe(wrong.description);
  });

  it("runs the keyed hash and constant-time comparison for an unknown client too", async () => {
    const matches = vi.spyOn(secrets, "matches");
    const hmac = vi.spyOn(secrets, "hash");
    await rejected(authenticateClient(core, post("nobody", "guess")));
    expect(matches).toHaveBeenCalledWith("client-secret", "guess", undefined);
    expect(hmac).toHaveBeenCalledWith("client-secret", "guess");
  });

  it("secrets.matches is false when nothing (or a wrong-length value) is stored", async () => {
    expect(secrets.matches("client-secret", "x", undefined)).toBe(false);
    expect(secrets.matches("client-secret", "x", Buffer.alloc(3))).toBe(false);
    expect(secrets.matches("client-secret", "x", secrets.hash("client-secret", "x"))).toBe(true);
  });

  it("marks failures of Basic callers so HTTP adds WWW-Authenticate: Basic", async () => {
    expect((await rejected(authenticateClient(core, { method: "client_secret_basic", clientId: "c1", clientSecret: "no" }))).basicAuth).toBe(true);
    expect((await rejected(authenticateClient(core, post("c1", "no")))).basicAuth).toBe(false);
  });

  it("requires credentials and a secret", async () => {
    expect((await rejected(authenticateClient(core, undefined))).kind).toBe("invalid_client");
    expect((await rejected(authenticateClient(core, post("c1", undefined)))).description).toBe("client secret is required");
  });

  it("refuses over-long ids and secrets before any lookup", async () => {
    const lookup = vi.spyOn(core, "clientContext");
    expect((await rejected(authenticateClient(core, post("x".repeat(257), secret)))).kind).toBe("invalid_client");
    expect((await rejected(authenticateClient(core, post("c1", "x".repeat(513))))).kind).toBe("invalid_client");
    expect(lookup).not.toHaveBeenCalled();
  });

  it("accepts the previous secret only inside its grace window", async () => {
    const rotated = (expireTime: number) =>
      fakeCore(
        clientContext("c2", {
          secretHash: secrets.hash("client-secret", "new-secret"),
          previousSecretHash: secrets.hash("client-secret", "old-secret"),
          previousSecretExpireTime: expireTime,
        }),
      );
    expect((await authenticateClient(rotated(NOW + 60), post("c2", "old-secret"))).client.id).toBe("c2");
    expect((await authenticateClient(rotated(NOW + 60), post("c2", "new-secret"))).client.id).toBe("c2");
    expect((await rejected(authenticateClient(rotated(NOW), post("c2", "old-secret")))).kind).toBe("invalid_client");
    expect((await rejected(authenticateClient(rotated(NOW - 1), post("c2", "old-secret")))).kind).toBe("invalid_client");
  });

  it("remembers a verified secret in the cache entry: the right secret skips the keyed hash, any other still runs it", async () => {
    const fresh = clientContext("c3", { secretHash: secrets.hash("client-secret", secret) });
    const c = fakeCore(fresh);
    const hmac = vi.spyOn(secrets, "hash");
    await authenticateClient(c, post("c3", secret));
    expect(hmac).toHaveBeenCalledTimes(1);
    expect(fresh.verifiedSecret).toHaveLength(32);
    expect(fresh.verifiedSecret!.equals(Buffer.from(secret))).toBe(false); // a digest, not the secret
    expect(await authenticateClient(c, post("c3", secret))).toBe(fresh);
    expect(hmac).toHaveBeenCalledTimes(1);
    expect((await rejected(authenticateClient(c, post("c3", "wrong-secret")))).kind).toBe("invalid_client");
    expect(hmac).toHaveBeenCalledTimes(2);
    expect((await rejected(authenticateClient(c, post("c3", undefined)))).description).toBe("client secret is required");
  });

  it("does not remember a previous secret accepted during its grace window", async () => {
    const fresh = clientContext("c4", {
      secretHash: secrets.hash("client-secret", "new-secret"),
      previousSecretHash: secrets.hash("client-secret", "old-secret"),
      previousSecretExpireTime: NOW + 60,
    });
    await authenticateClient(fakeCore(fresh), post("c4", "old-secret"));
    expect(fresh.verifiedSecret).toBeUndefined();
  });

  it("refuses a public client at a confidential endpoint", async () => {
    const pub = fakeCore(clientContext("p1"));
    expect((await rejected(authenticateClient(pub, post("p1", undefined)))).description).toBe("this client may not use this endpoint");
    expect((await rejected(authenticateClient(pub, post("p1", "anything")))).kind).toBe("invalid_client");
  });
});
