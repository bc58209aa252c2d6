// RFC 8707, the MUST items covered here:
// - §2: a `resource` the client may not use is refused with invalid_target (not ignored), also on the
//   code exchange.
// - §2.2: on the token endpoint, a refresh or code exchange may ask only for resources the original
//   grant covered (here: the resource the refresh family or the authorization code was issued for);
//   any other, even one assigned to the client, is invalid_target, and the refresh token is not consumed.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createApplication, createResource } from "../helpers/fixtures.js";
import { createGrpcClient, errorReason, type GrpcClient } from "../helpers/grpc-client.js";
import { jwtPayload, startServer, type TestServer } from "../helpers/server.js";
import { backendApp, login, refresh, refreshForm, type BackendApp } from "../sessions/setup.js";
import { REDIRECT_URI } from "../oidc/oidc-helpers.js";
import { authorizationCode, codeClient, exchangeCode, type CodeClient } from "./binding-helpers.js";

const ORDERS = "https://orders.example.com/api";
const BILLING = "https://billing.example.com/api";
const SECRET = "https://secret.example.com/api";

describe("RFC 8707 §2.2: tokens only for the resource the grant covered", () => {
  let server: TestServer;
  let app: BackendApp;
  let rp: CodeClient;
  let grpcClient: GrpcClient<typeof TokenService>;

  beforeAll(async () => {
    server = await startServer();
    const orders = await createResource(server.app, ORDERS);
    const billing = await createResource(server.app, BILLING);
    await createResource(server.app, SECRET);
    app = await backendApp(server, { resourceIds: [orders, billing] });
    rp = await codeClient(server, await createApplication(server.app), [orders, billing]);
    grpcClient = createGrpcClient(TokenService, server.grpcAddress);
  });
  afterAll(async () => {
    grpcClient.close();
    await server.dispose();
  });

  it("a refresh asking for another assigned resource gets invalid_target on every door and the token stays usable", async () => {
    const tokens = await login(server, app, { resource: ORDERS });
    for (const other of [BILLING, "userid-api", SECRET]) {
      const form = await refreshForm(server, app, tokens.refresh_token, { resource: other });
      expect(form.status, other).toBe(400);
      expect(form.body.error, other).toBe("invalid_target");
    }
    const viaCis = await refresh(server, app, tokens.refresh_token, { resource: BILLING });
    expect(viaCis.status).toBe(400);
    expect(viaCis.body.error).toBe("invalid_target");
    const viaGrpc = (await grpcClient
      .refreshToken({ refreshToken: tokens.refresh_token, resource: BILLING }, { authorization: server.basic(app.clientId, app.clientSecret) })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(viaGrpc.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorReason(viaGrpc)).toBe("invalid_target");

    // Naming the grant's own resource is fine; the refused attempts consumed nothing.
    const same = await refreshForm(server, app, tokens.refresh_token, { resource: ORDERS });
    expect(same.status).toBe(200);
    expect(jwtPayload(same.body.access_token).aud).toBe(ORDERS);
  });

  it("a refresh of a default-resource grant cannot widen to an assigned resource", async () => {
    const tokens = await login(server, app);
    const res = await refresh(server, app, tokens.refresh_token, { resource: ORDERS });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_target");
    const same = await refresh(server, app, tokens.refresh_token, { resource: "userid-api" });
    expect(same.status).toBe(200);
    expect(jwtPayload(same.body.access_token).aud).toBe("userid-api");
  });

  it("a code exchange asking for a resource outside the authorization or an unassigned one gets invalid_target", async () => {
    const code = await authorizationCode(server, rp, { resource: ORDERS });
    const other = await exchangeCode(server, rp, code, { resource: BILLING });
    expect(other.status).toBe(400);
    expect(other.body.error).toBe("invalid_target");
    const unassigned = await exchangeCode(server, rp, code, { resource: SECRET });
    expect(unassigned.status).toBe(400);
    expect(unassigned.body.error).toBe("invalid_target");
    const unknown = await exchangeCode(server, rp, code, { resource: "https://nowhere.example.com/" });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toBe("invalid_target");

    const viaGrpc = (await grpcClient
      .exchangeAuthorizationCode(
        { code: code.code, codeVerifier: code.verifier, redirectUri: REDIRECT_URI, resource: BILLING },
        { authorization: server.basic(rp.clientId, rp.clientSecret) },
      )
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(viaGrpc.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorReason(viaGrpc)).toBe("invalid_target");

    // The refusals did not use the code up.
    const ok = await exchangeCode(server, rp, code, { resource: ORDERS });
    expect(ok.status).toBe(200);
    expect(jwtPayload(ok.body.access_token!).aud).toBe(ORDERS);
  });

  it("a code exchange for a default-resource authorization cannot name an assigned resource", async () => {
    const code = await authorizationCode(server, rp);
    const res = await exchangeCode(server, rp, code, { resource: ORDERS });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_target");
    expect((await exchangeCode(server, rp, code)).status).toBe(200);
  });
});
