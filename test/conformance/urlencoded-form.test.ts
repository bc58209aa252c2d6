import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../helpers/server.js";

// application/x-www-form-urlencoded (WHATWG URL §5) as the token endpoint reads it: as URLSearchParams does.

describe("the token endpoint's form, through the HTTP door", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.dispose());

  const token = (body: string) =>
    fetch(`${server.httpUrl}/oidc/token`, {
      method: "POST",
      headers: { authorization: server.basic(), "content-type": "application/x-www-form-urlencoded" },
      body,
    });

  it("empty pairs and a pair without a name are ignored as URLSearchParams ignores them", async () => {
    expect((await token("&&grant_type=client_credentials&&")).status).toBe(200);
    expect((await token("=x&grant_type=client_credentials")).status).toBe(200);
  });

  it("a parameter sent twice is refused, encoded or not", async () => {
    for (const body of ["grant_type=client_credentials&grant_type=client_credentials", "grant_type=client_credentials&grant%5Ftype=client_credentials"]) {
      const res = await token(body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
    }
  });

  it("a value is decoded when it needs it, and taken as sent when it does not", async () => {
    expect((await token("grant_type=client%5Fcredentials")).status).toBe(200);
    const unknown = await token("grant_type=client_credential");
    expect(((await unknown.json()) as { error: string }).error).toBe("unsupported_grant_type");
  });
});
