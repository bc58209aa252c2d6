// Users shared between applications (CONTRACT §7, issue #11 item 5), on both admin doors:
// - a non-management application may not change the password, roles or custom claims of a user who
//   also belongs to another application (PERMISSION_DENIED), so it cannot sign in as them elsewhere;
// - nor delete such a user (it may remove its own membership instead);
// - it may still change those of a user who belongs only to it, and management may change anyone's.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminClients, Code, DOORS, expectFailure, managementToken, unique, type Admin } from "../admin/admin-helpers.js";
import { clientToken, startServer, type TestServer } from "../helpers/server.js";

let server: TestServer;
let mgmt: string;

beforeAll(async () => {
  server = await startServer();
  mgmt = await managementToken(server);
});
afterAll(() => server.dispose());

const PASSWORD = "original password 1";

/** POST /cis/v1/auth/password/authenticate with an application's client token. */
async function signIn(bearer: string, username: string, password: string): Promise<number> {
  const res = await fetch(`${server.httpUrl}/cis/v1/auth/password/authenticate`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ username, password }),
  });
  await res.text();
  return res.status;
}

describe.each(DOORS)("users shared between applications over %s", (door) => {
  let admin: Admin;
  const apps: { id: string; token: string }[] = [];
  let shared: { id: string; username: string };
  let own: { id: string; username: string };

  beforeAll(async () => {
    admin = adminClients(server, door);
    for (let i = 0; i < 2; i++) {
      const { application } = await admin.applications.createApplication({ application: { displayName: unique("app") } }, mgmt);
      const { client, clientSecret } = await admin.applications.createClient({ client: { applicationId: application!.id } }, mgmt);
      apps.push({ id: application!.id, token: await clientToken(server, {}, server.basic(client!.id, clientSecret)) });
    }
    const mk = async (applicationIds: string[]) => {
      const { user } = await admin.users.createUser({ user: { username: unique("u"), applicationIds, roles: ["reader"] }, password: PASSWORD }, mgmt);
      return { id: user!.id, username: user!.username };
    };
    shared = await mk([apps[0]!.id, apps[1]!.id]);
    own = await mk([apps[0]!.id]);
  });
  afterAll(() => admin.close());

  it("application A cannot reset a shared user's password, and so cannot sign in as them at B", async () => {
    const [a, b] = apps as [{ id: string; token: string }, { id: string; token: string }];
    await expectFailure(admin.users.setUserPassword({ id: shared.id, password: "attacker chosen 1" }, a.token), Code.PermissionDenied, /other applications/);
    expect(await signIn(b.token, shared.username, "attacker chosen 1")).toBe(400);
    expect(await signIn(b.token, shared.username, PASSWORD)).toBe(200);
  });

  it("application A cannot change a shared user's roles or custom claims", async () => {
    const a = apps[0]!;
    await expectFailure(
      admin.users.updateUser({ user: { id: shared.id, roles: ["admin"] }, updateMask: { paths: ["roles"] } }, a.token),
      Code.PermissionDenied,
      /roles/,
    );
    await expectFailure(
      admin.users.updateUser({ user: { id: shared.id, customClaims: { tier: "gold" } }, updateMask: { paths: ["custom_claims"] } }, a.token),
      Code.PermissionDenied,
      /custom claims/,
    );
    // A full update that leaves roles and claims as they are is not a change of them.
    const { user } = await admin.users.getUser({ id: shared.id }, a.token);
    const email = `${unique("e")}@example.com`;
    const updated = await admin.users.updateUser({ user: { ...user!, email } }, a.token);
    expect(updated.user).toMatchObject({ email, roles: ["reader"] });
  });

  it("application A cannot delete a shared user but may leave it", async () => {
    const a = apps[0]!;
    await expectFailure(admin.users.deleteUser({ id: shared.id }, a.token), Code.PermissionDenied);
    expect((await admin.users.getUser({ id: shared.id }, mgmt)).user!.applicationIds).toContain(a.id);
  });

  it("application A may change the credentials of a user that is only its own", async () => {
    const a = apps[0]!;
    await admin.users.setUserPassword({ id: own.id, password: "a new password 2" }, a.token);
    expect(await signIn(a.token, own.username, "a new password 2")).toBe(200);
    const { user } = await admin.users.updateUser({ user: { id: own.id, roles: ["writer"] }, updateMask: { paths: ["roles"] } }, a.token);
    expect(user!.roles).toEqual(["writer"]);
  });

  it("a management application may change a shared user's password and roles", async () => {
    await admin.users.setUserPassword({ id: shared.id, password: "managed password 3" }, mgmt);
    expect(await signIn(apps[1]!.token, shared.username, "managed password 3")).toBe(200);
    const { user } = await admin.users.updateUser({ user: { id: shared.id, roles: ["auditor"] }, updateMask: { paths: ["roles"] } }, mgmt);
    expect(user!.roles).toEqual(["auditor"]);
  });
});
