import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApplication, createClient, createResource, createUser } from "../helpers/fixtures.js";
import { clientToken, postForm, startServer, type TestServer } from "../helpers/server.js";
import { issueUserTokens, snapshotOf } from "../../src/core/user-tokens.js";
import { insertSession, newSession } from "../../src/core/sessions.js";
import { adminClients, Code, DOORS, expectFailure, fixtureClient, managementToken, secondTenant, unique, type Admin } from "./admin-helpers.js";

describe.each(DOORS)("admin authorization over %s", (door) => {
  let server: TestServer;
  let admin: Admin;
  beforeAll(async () => {
    server = await startServer();
    admin = adminClients(server, door);
  });
  afterAll(async () => {
    admin.close();
    await server.dispose();
  });

  describe("authentication", () => {
    it("refuses a missing, garbage or non-Bearer token with UNAUTHENTICATED", async () => {
      await expectFailure(admin.applications.listApplications({}), Code.Unauthenticated, /Bearer/, "invalid_token");
      await expectFailure(admin.resources.listResources({}, "garbage"), Code.Unauthenticated, undefined, "invalid_token");
      await expectFailure(admin.users.listUsers({}, "a.b.c"), Code.Unauthenticated, undefined, "invalid_token");
      const token = await managementToken(server);
      const forged = `${token.slice(0, -4)}${token.endsWith("AAAA") ? "BBBB" : "AAAA"}`;
      await expectFailure(admin.applications.listApplications({}, forged), Code.Unauthenticated, undefined, "invalid_token");
    });

    it("refuses an expired token", async () => {
      const token = await managementToken(server);
      await admin.applications.listApplications({}, token);
      server.clock.advance(3600 + 3);
      await expectFailure(admin.applications.listApplications({}, token), Code.Unauthenticated, /expired/, "invalid_token");
    });

    it("refuses a token its client revoked (RFC 7009), from the next call on", async () => {
      const token = await managementToken(server);
      await admin.applications.listApplications({}, token);
      const other = await managementToken(server);
      const revoked = await postForm(`${server.httpUrl}/oidc/revoke`, { token }, server.basic());
      expect(revoked.status).toBe(200);
      await expectFailure(admin.applications.listApplications({}, token), Code.Unauthenticated, /revoked/, "invalid_token");
      // The same client's other tokens go on working.
      await admin.applications.listApplications({}, other);
    });

    it("refuses a token issued for another resource", async () => {
      const uri = `https://${unique("api")}.example.com`;
      const resourceId = await createResource(server.app, uri);
      const app = await createApplication(server.app, { management: true });
      const { clientId, clientSecret } = await createClient(server.app, app, { resourceIds: [resourceId] });
      const token = await clientToken(server, { resource: uri }, server.basic(clientId, clientSecret));
      await expectFailure(admin.applications.listApplications({}, token), Code.Unauthenticated, /another resource/, "invalid_token");
      const good = await clientToken(server, {}, server.basic(clientId, clientSecret));
      await admin.applications.listApplications({}, good);
    });

    it("refuses a user access token and a token whose client was deleted", async () => {
      const m = await fixtureClient(server, { management: true });
      const { userId } = await createUser(server.app, { applicationIds: [m.applicationId] });
      const core = server.app.core;
      const ctx = (await core.clientContext(m.clientId))!;
      const userToken = (await issueUserTokens(core, {
        ctx,
        resource: ctx.defaultResource,
        userId,
        scopes: [],
        snapshot: snapshotOf((await core.storage.users.get("default", userId))!, ["pwd"]),
        authTime: core.now(),
        sid: undefined,
        offline: false,
      })).access_token;
      await expectFailure(admin.applications.listApplications({}, userToken), Code.Unauthenticated, /client access token/);

      const token = await m.token();
      await admin.applications.deleteClient({ id: m.clientId }, token);
      await expectFailure(admin.applications.listApplications({}, token), Code.Unauthenticated, /no longer exists/);
    });
  });

  describe("a non-management application", () => {
    it("may not create resources or applications, nor change or delete resources", async () => {
      const own = await fixtureClient(server);
      const token = await own.token();
      await expectFailure(admin.resources.createResource({ resource: { uri: "https://x.example.com" } }, token), Code.PermissionDenied, undefined, "forbidden");
      await expectFailure(admin.applications.createApplication({ application: { displayName: "x" } }, token), Code.PermissionDenied);
      const defaultId = (await server.app.core.storage.resources.getDefault("default"))!.id;
      await expectFailure(admin.resources.updateResource({ resource: { id: defaultId, displayName: "x" }, updateMask: { paths: ["display_name"] } }, token), Code.PermissionDenied);
      await expectFailure(admin.resources.deleteResource({ id: defaultId }, token), Code.PermissionDenied);
    });

    it("reads its own application and only that", async () => {
      const own = await fixtureClient(server);
      const other = await fixtureClient(server);
      const token = await own.token();
      expect((await admin.applications.getApplication({ id: own.applicationId }, token)).application?.id).toBe(own.applicationId);
      await expectFailure(admin.applications.getApplication({ id: other.applicationId }, token), Code.NotFound, undefined, "not_found");
      const list = await admin.applications.listApplications({}, token);
      expect(list.applications.map((a) => a.id)).toEqual([own.applicationId]);
      await expectFailure(admin.applications.deleteApplication({ id: other.applicationId }, token), Code.NotFound);
    });

    it("manages its own clients; another application's are not found", async () => {
      const own = await fixtureClient(server);
      const other = await fixtureClient(server);
      const token = await own.token();
      const created = await admin.applications.createClient({ client: { applicationId: own.applicationId, displayName: "mine" } }, token);
      await admin.applications.updateClient({ client: { id: created.client!.id, displayName: "renamed" }, updateMask: { paths: ["display_name"] } }, token);
      await admin.applications.rotateClientSecret({ id: created.client!.id }, token);
      const mine = await admin.applications.listClients({}, token);
      expect(mine.clients.map((c) => c.id).sort()).toEqual([own.clientId, created.client!.id].sort());
      await expectFailure(admin.applications.listClients({ applicationId: other.applicationId }, token), Code.NotFound);
      await expectFailure(admin.applications.createClient({ client: { applicationId: other.applicationId } }, token), Code.NotFound);
      for (const call of [
        () => admin.applications.getClient({ id: other.clientId }, token),
        () => admin.applications.updateClient({ client: { id: other.clientId, displayName: "x" } }, token),
        () => admin.applications.rotateClientSecret({ id: other.clientId }, token),
        () => admin.applications.deleteClient({ id: other.clientId }, token),
      ]) {
        await expectFailure(call(), Code.NotFound, undefined, "not_found");
      }
      await admin.applications.deleteClient({ id: created.client!.id }, token);
      // The other application's client was not touched.
      expect((await server.app.core.storage.clients.get("default", other.clientId))).toBeDefined();
    });

    it("reads only the resources assigned to its clients (and the default one) and assigns only those", async () => {
      const assignedUri = `https://${unique("assigned")}.example.com`;
      const assigned = await createResource(server.app, assignedUri);
      const hidden = await createResource(server.app, `https://${unique("hidden")}.example.com`);
      const appId = await createApplication(server.app);
      const { clientId, clientSecret } = await createClient(server.app, appId, { resourceIds: [assigned] });
      const token = await clientToken(server, {}, server.basic(clientId, clientSecret));
      const list = await admin.resources.listResources({}, token);
      expect(list.resources.map((r) => r.uri).sort()).toEqual([assignedUri, "userid-api"].sort());
      expect((await admin.resources.getResource({ id: assigned }, token)).resource?.uri).toBe(assignedUri);
      await expectFailure(admin.resources.getResource({ id: hidden }, token), Code.NotFound);
      await expectFailure(admin.applications.createClient({ client: { applicationId: appId, resourceIds: [hidden] } }, token), Code.NotFound, /resource_ids/);
      const second = await admin.applications.createClient({ client: { applicationId: appId, resourceIds: [assigned] } }, token);
      expect(second.client?.resourceIds).toEqual([assigned]);
    });

    it("creates, sees and changes only users of its own application", async () => {
      const own = await fixtureClient(server);
      const other = await fixtureClient(server);
      const token = await own.token();
      const { user } = await admin.users.createUser({ user: { username: unique("bob") } }, token);
      expect(user?.applicationIds).toEqual([own.applicationId]);
      await expectFailure(admin.users.createUser({ user: { username: unique("eve"), applicationIds: [other.applicationId] } }, token), Code.PermissionDenied);
      const foreign = await createUser(server.app, { applicationIds: [other.applicationId] });
      for (const call of [
        () => admin.users.getUser({ id: foreign.userId }, token),
        () => admin.users.updateUser({ user: { id: foreign.userId, email: "x@example.com" }, updateMask: { paths: ["email"] } }, token),
        () => admin.users.deleteUser({ id: foreign.userId }, token),
        () => admin.users.setUserPassword({ id: foreign.userId, password: "long enough password" }, token),
        () => admin.users.listSessions({ userId: foreign.userId }, token),
      ]) {
        await expectFailure(call(), Code.NotFound);
      }
      const listed = await admin.users.listUsers({}, token);
      expect(listed.users.map((u) => u.id)).toEqual([user!.id]);
      await expectFailure(admin.users.listUsers({ applicationId: other.applicationId }, token), Code.NotFound);

      // A shared user: visible, but its other membership cannot be changed and it cannot be deleted.
      const shared = await createUser(server.app, { applicationIds: [own.applicationId, other.applicationId] });
      await expectFailure(
        admin.users.updateUser({ user: { id: shared.userId, applicationIds: [own.applicationId] }, updateMask: { paths: ["application_ids"] } }, token),
        Code.PermissionDenied,
      );
      await expectFailure(admin.users.deleteUser({ id: shared.userId }, token), Code.PermissionDenied);
      const left = await admin.users.updateUser({ user: { id: shared.userId, applicationIds: [other.applicationId] }, updateMask: { paths: ["application_ids"] } }, token);
      expect(left.user?.applicationIds).toEqual([other.applicationId]);
      await expectFailure(admin.users.getUser({ id: shared.userId }, token), Code.NotFound);
    });

    it("sees and revokes only sessions started through its application", async () => {
      const own = await fixtureClient(server);
      const other = await fixtureClient(server);
      const { userId } = await createUser(server.app, { applicationIds: [own.applicationId, other.applicationId] });
      const core = server.app.core;
      const mine = newSession(core, { tenantId: "default", userId, applicationId: own.applicationId, amr: ["pwd"] });
      const theirs = newSession(core, { tenantId: "default", userId, applicationId: other.applicationId, amr: ["pwd"] });
      await core.storage.transaction(async (tx) => {
        await insertSession(tx, mine);
        await insertSession(tx, theirs);
      });
      const token = await own.token();
      const listed = await admin.users.listSessions({ userId }, token);
      expect(listed.sessions.map((s) => s.id)).toEqual([mine.session.id]);
      await expectFailure(admin.users.revokeSession({ id: theirs.session.id }, token), Code.NotFound);
      await admin.users.revokeSession({ id: mine.session.id }, token);
      expect((await core.storage.sessions.get("default", mine.session.id))?.revokeTime).toBeDefined();
      expect((await core.storage.sessions.get("default", theirs.session.id))?.revokeTime).toBeUndefined();
      const all = await admin.users.listSessions({ userId }, await managementToken(server));
      expect(all.sessions.map((s) => s.id)).toEqual([theirs.session.id]);
    });

    it("may delete its own application, after which its token stops working", async () => {
      const own = await fixtureClient(server);
      const token = await own.token();
      await admin.applications.deleteApplication({ id: own.applicationId }, token);
      await expectFailure(admin.applications.listApplications({}, token), Code.Unauthenticated);
    });
  });

  describe("tenants", () => {
    it("a management token acts on its tenant only; the other tenant's objects are not found", async () => {
      const name = unique("t").toLowerCase();
      const second = await secondTenant(server, name);
      const theirs = await second.token();
      const ours = await managementToken(server);

      const { resource } = await admin.resources.createResource({ resource: { uri: "https://shared.example.com" } }, theirs);
      // Same URI in another tenant is fine: uniqueness is per tenant.
      const ourResource = await admin.resources.createResource({ resource: { uri: "https://shared.example.com" } }, ours);
      const { application } = await admin.applications.createApplication({ application: { displayName: "theirs" } }, theirs);
      const client = await admin.applications.createClient({ client: { applicationId: application!.id, resourceIds: [resource!.id] } }, theirs);
      const { user } = await admin.users.createUser({ user: { username: "same-name", applicationIds: [application!.id] } }, theirs);
      await admin.users.createUser({ user: { username: "same-name" } }, ours);

      // Thunks, run one at a time: a promise created early could reject before anyone awaits it.
      for (const call of [
        () => admin.resources.getResource({ id: resource!.id }, ours),
        () => admin.resources.deleteResource({ id: resource!.id, force: true }, ours),
        () => admin.applications.getApplication({ id: application!.id }, ours),
        () => admin.applications.deleteApplication({ id: application!.id }, ours),
        () => admin.applications.getClient({ id: client.client!.id }, ours),
        () => admin.applications.rotateClientSecret({ id: client.client!.id }, ours),
        () => admin.applications.createClient({ client: { applicationId: application!.id } }, ours),
        () => admin.users.getUser({ id: user!.id }, ours),
        () => admin.users.deleteUser({ id: user!.id }, ours),
        () => admin.resources.getResource({ id: ourResource.resource!.id }, theirs),
      ]) {
        await expectFailure(call(), Code.NotFound, undefined, "not_found");
      }
      await expectFailure(admin.applications.createClient({ client: { applicationId: (await admin.applications.listApplications({}, ours)).applications[0]!.id, resourceIds: [resource!.id] } }, ours), Code.NotFound);
      await expectFailure(admin.users.createUser({ user: { username: unique("x"), applicationIds: [application!.id] } }, ours), Code.NotFound);

      const ourApps = (await admin.applications.listApplications({ pageSize: 500 }, ours)).applications.map((a) => a.id);
      expect(ourApps).not.toContain(application!.id);
      const theirApps = (await admin.applications.listApplications({}, theirs)).applications.map((a) => a.id).sort();
      expect(theirApps).toEqual([second.applicationId, application!.id].sort());
      const theirResources = (await admin.resources.listResources({}, theirs)).resources.map((r) => r.uri).sort();
      expect(theirResources).toEqual(["https://shared.example.com", "userid-api"]);
      // A page token only continues the same list in the same tenant.
      const ourPage = await admin.applications.listApplications({ pageSize: 1 }, ours);
      expect(ourPage.nextPageToken).not.toBe("");
      await expectFailure(admin.applications.listApplications({ pageSize: 1, pageToken: ourPage.nextPageToken }, theirs), Code.InvalidArgument, /page_token/);
      // The objects are all still there.
      expect((await server.app.core.storage.clients.get(name, client.client!.id))).toBeDefined();
    });
  });
});
