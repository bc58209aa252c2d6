import { alreadyExists, forbidden, invalidRequest, notFound } from "../../domain/errors.js";
import { newId } from "../../domain/ids.js";
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
function checkApplications(core: Core, caller: Caller, next: readonly string[], current: readonly string[]): void {
  if (!caller.management) {
    const others = (ids: readonly string[]) => [...new Set(ids.filter((id) => id !== caller.applicationId))].sort().join("\n");
    if (others(next) !== others(current)) throw forbidden("a non-management application may only add or remove its own application in user.application_ids");
  }
  for (const id of next) {
    if (!current.includes(id) && core.store.applications.get(caller.tenantId, id) === undefined) {
      throw notFound(`user.application_ids: application "${truncate(id)}" not found`);
    }
  }
}

function uniqueUsername(core: Core, caller: Caller, username: string, self: string | undefined): void {
  const holder = core.store.users.findByUsername(caller.tenantId, username);
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
  const user: User = { ...profile, id: newId("usr"), tenantId: caller.tenantId, passwordHash, createTime: now, updateTime: now };
  core.store.transaction(() => {
    checkApplications(core, caller, user.applicationIds, []);
    uniqueUsername(core, caller, user.username, undefined);
    core.store.users.insert(user);
  });
  return core.store.users.get(caller.tenantId, user.id)!;
}

/** A user the caller may act on: any in its tenant for management, else members of its application. */
export function ownUser(core: Core, caller: Caller, id: string): User {
  const user = core.store.users.get(caller.tenantId, id);
  if (user === undefined || (!caller.management && !user.applicationIds.includes(caller.applicationId))) {
    throw notFound(`user "${truncate(id)}" not found`);
  }
  return user;
}

export const getUser = ownUser;

export function listUsers(core: Core, caller: Caller, req: PageRequest & { applicationId?: string | undefined }): Page<User> {
  const applicationId = applicationFilter(caller, req.applicationId);
  return listPage(core, caller, `ListUsers\n${applicationId ?? ""}`, req, (after, limit) =>
    core.store.users.page(caller.tenantId, after, limit, applicationId),
  );
}

export function updateUser(core: Core, caller: Caller, id: string, input: UserInput, mask: readonly string[]): User {
  const paths = maskPaths(mask, USER_UPDATABLE);
  return core.store.transaction(() => {
    const current = ownUser(core, caller, id);
    const given = profileOf(input);
    const next: UserProfile = { ...current };
    for (const [path, key] of USER_FIELDS) if (paths.has(path)) Object.assign(next, { [key]: given[key] });
    const profile = validateProfile(next);
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (!same(profile.roles, current.roles)) requireSoleApplication(caller, current, "roles");
    if (!same(profile.customClaims, current.customClaims)) requireSoleApplication(caller, current, "custom claims");
    checkApplications(core, caller, profile.applicationIds, current.applicationIds);
    uniqueUsername(core, caller, profile.username, id);
    core.store.users.update({ ...current, ...profile, updateTime: core.now() });
    return core.store.users.get(caller.tenantId, id)!;
  });
}

/**
 * Deletes a user with their sessions and refresh tokens (cascade). A non-management caller may
 * only delete users that belong to no other application; otherwise it removes its membership.
 */
export function deleteUser(core: Core, caller: Caller, id: string): void {
  core.store.transaction(() => {
    const user = ownUser(core, caller, id);
    if (!caller.management && user.applicationIds.some((a) => a !== caller.applicationId)) {
      throw forbidden("the user also belongs to other applications; remove your application from user.application_ids instead");
    }
    core.store.users.delete(caller.tenantId, id);
  });
}

/** Sets a user's password (hashed before the transaction); existing sessions stay. A shared user's only by management. */
export async function setUserPassword(core: Core, caller: Caller, id: string, password: string): Promise<void> {
  if (id === "") throw invalidRequest("id is required");
  requireSoleApplication(caller, ownUser(core, caller, id), "password");
  validatePassword(password, "password");
  const passwordHash = await core.passwordHashes.run(() => hashPassword(password));
  core.store.transaction(() => {
    requireSoleApplication(caller, ownUser(core, caller, id), "password");
    core.store.users.setPassword(caller.tenantId, id, passwordHash, core.now());
  });
}
