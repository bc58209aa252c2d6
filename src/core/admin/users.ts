import { alreadyExists, forbidden, invalidRequest, notFound } from "../../domain/errors.js";
import { newId } from "../../domain/ids.js";
import type { Repositories } from "../../domain/ports.js";
import type { User } from "../../domain/types.js";
import type { Core } from "../core.js";
import { hashPassword, validatePassword } from "../passwords.js";
import { truncate } from "../resource-indicators.js";
import { applicationFilter, type Caller } from "./authorize.js";
import { listPage, type Page, type PageRequest } from "./paging.js";
import { maskPaths, validateCustomClaims, validateEmail, validateIds, validateTokens, validateUsername } from "./validation.js";

export interface UserInput {
  username: string;
  email?: string | undefined;
  roles?: string[] | undefined;
  customClaims?: Record<string, unknown> | undefined;
  /** The applications the user belongs to. */
  applicationIds?: string[] | undefined;
}

type UserProfile = Pick<User, "username" | "email" | "roles" | "customClaims" | "applicationIds">;

/** Mask path → profile key. */
const USER_FIELDS: [string, keyof UserProfile][] = [
  ["username", "username"],
  ["email", "email"],
  ["roles", "roles"],
  ["custom_claims", "customClaims"],
  ["application_ids", "applicationIds"],
];
export const USER_UPDATABLE = USER_FIELDS.map(([path]) => path);

/** The profile a user input describes, unset fields being empty. */
function profileOf(input: UserInput): UserProfile {
  return { username: input.username, email: input.email ?? "", roles: input.roles ?? [], customClaims: input.customClaims ?? {}, applicationIds: input.applicationIds ?? [] };
}

function validateProfile(u: UserProfile): UserProfile {
  return {
    username: validateUsername(u.username, "user.username"),
    email: validateEmail(u.email, "user.email"),
    roles: validateTokens(u.roles, "user.roles"),
    customClaims: validateCustomClaims(u.customClaims, "user.custom_claims"),
    applicationIds: validateIds(u.applicationIds, "user.application_ids"),
  };
}

/**
 * Memberships the caller may set: every id an application of the tenant; a non-management caller
 * may only add or remove its own application and leaves the others as they were.
 */
async function checkApplications(tx: Repositories, caller: Caller, next: readonly string[], current: readonly string[]): Promise<void> {
  if (!caller.management) {
    const others = (ids: readonly string[]) => [...new Set(ids.filter((id) => id !== caller.applicationId))].sort().join("\n");
    if (others(next) !== others(current)) throw forbidden("a non-management application may only add or remove its own application in user.application_ids");
  }
  for (const id of next) {
    if (!current.includes(id) && (await tx.applications.get(caller.tenantId, id)) === undefined) {
      throw notFound(`user.application_ids: application "${truncate(id)}" not found`);
    }
  }
}

async function uniqueUsername(tx: Repositories, caller: Caller, username: string, self: string | undefined): Promise<void> {
  const holder = await tx.users.findByUsername(caller.tenantId, username);
  if (holder !== undefined && holder.id !== self) throw alreadyExists(`user.username "${truncate(username)}" is already taken`);
}

/**
 * A non-management caller may change a user's credentials (password, roles, claims) only when the user
 * belongs to no other application: otherwise it could sign in as that user at the other applications.
 */
function requireSoleApplication(caller: Caller, user: User, what: string): void {
  if (!caller.management && user.applicationIds.some((a) => a !== caller.applicationId)) {
    throw forbidden(`the user also belongs to other applications; only a management application may change their ${what}`);
  }
}

/** A non-management caller creating a user without memberships makes it a user of its own application. */
export async function createUser(core: Core, caller: Caller, input: UserInput, password?: string): Promise<User> {
  const given = profileOf(input);
  if (!caller.management && given.applicationIds.length === 0) given.applicationIds = [caller.applicationId];
  const profile = validateProfile(given);
  if (password !== undefined) validatePassword(password, "password");
  const passwordHash = password === undefined ? undefined : await core.passwordHashes.run(() => hashPassword(password));
  const now = core.now();
  const user: User = Object.assign({}, profile, { id: newId("usr"), tenantId: caller.tenantId, passwordHash, createTime: now, updateTime: now });
  return core.storage.transaction(async (tx) => {
    await checkApplications(tx, caller, user.applicationIds, []);
    await uniqueUsername(tx, caller, user.username, undefined);
    await tx.users.insert(user);
    return (await tx.users.get(caller.tenantId, user.id))!;
  });
}

/** A user the caller may act on: any in its tenant for management, else members of its application. */
export async function ownUser(repos: Repositories, caller: Caller, id: string): Promise<User> {
  const user = await repos.users.get(caller.tenantId, id);
  if (user === undefined || (!caller.management && !user.applicationIds.includes(caller.applicationId))) {
    throw notFound(`user "${truncate(id)}" not found`);
  }
  return user;
}

export function getUser(core: Core, caller: Caller, id: string): Promise<User> {
  return ownUser(core.storage, caller, id);
}

export function listUsers(core: Core, caller: Caller, req: PageRequest & { applicationId?: string | undefined }): Promise<Page<User>> {
  const applicationId = applicationFilter(caller, req.applicationId);
  return listPage(core, caller, `ListUsers\n${applicationId ?? ""}`, req, (after, limit) =>
    core.storage.users.page(caller.tenantId, after, limit, applicationId),
  );
}

export function updateUser(core: Core, caller: Caller, id: string, input: UserInput, mask: readonly string[]): Promise<User> {
  const paths = maskPaths(mask, USER_UPDATABLE);
  return core.storage.transaction(async (tx) => {
    const current = await ownUser(tx, caller, id);
    const given = profileOf(input);
    const next: UserProfile = Object.assign({}, current);
    for (const [path, key] of USER_FIELDS) if (paths.has(path)) Object.assign(next, { [key]: given[key] });
    const profile = validateProfile(next);
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (!same(profile.roles, current.roles)) requireSoleApplication(caller, current, "roles");
    if (!same(profile.customClaims, current.customClaims)) requireSoleApplication(caller, current, "custom claims");
    await checkApplications(tx, caller, profile.applicationIds, current.applicationIds);
    await uniqueUsername(tx, caller, profile.username, id);
    await tx.users.update(Object.assign({}, current, profile, { updateTime: core.now() }));
    return (await tx.users.get(caller.tenantId, id))!;
  });
}

/**
 * Deletes a user with their sessions and refresh tokens (cascade). A non-management caller may
 * only delete users that belong to no other application; otherwise it removes its membership.
 */
export async function deleteUser(core: Core, caller: Caller, id: string): Promise<void> {
  await core.storage.transaction(async (tx) => {
    const user = await ownUser(tx, caller, id);
    if (!caller.management && user.applicationIds.some((a) => a !== caller.applicationId)) {
      throw forbidden("the user also belongs to other applications; remove your application from user.application_ids instead");
    }
    await tx.users.delete(caller.tenantId, id);
  });
}

/** Sets a user's password (hashed before the transaction); existing sessions stay. A shared user's only by management. */
export async function setUserPassword(core: Core, caller: Caller, id: string, password: string): Promise<void> {
  if (id === "") throw invalidRequest("id is required");
  requireSoleApplication(caller, await ownUser(core.storage, caller, id), "password");
  validatePassword(password, "password");
  const passwordHash = await core.passwordHashes.run(() => hashPassword(password));
  await core.storage.transaction(async (tx) => {
    requireSoleApplication(caller, await ownUser(tx, caller, id), "password");
    await tx.users.setPassword(caller.tenantId, id, passwordHash, core.now());
  });
}
