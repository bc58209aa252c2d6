/** Plain records of tessera's domain. Times are seconds since the epoch. */

export interface Tenant {
  id: string;
  name: string;
  createTime: number;
}

/** Token lifetimes in seconds; undefined defers to the next level. */
export interface LifetimeOverrides {
  accessTokenTtl?: number | undefined;
  refreshTokenTtl?: number | undefined;
  maxRotation?: number | undefined;
}

/** JWS algorithms tessera signs with (CONTRACT §7). */
export type SigningAlg = "ES256" | "EdDSA" | "RS256";
export const SIGNING_ALGS: readonly SigningAlg[] = ["ES256", "EdDSA", "RS256"];

export interface Resource extends LifetimeOverrides {
  id: string;
  tenantId: string;
  uri: string;
  displayName: string;
  isDefault: boolean;
  /** The scope values this API defines (set only by a management application). */
  scopes: string[];
  /** Access token algorithm for this resource; undefined means the server default. */
  signingAlg: SigningAlg | undefined;
  createTime: number;
  updateTime: number;
}

export interface Application {
  id: string;
  tenantId: string;
  displayName: string;
  management: boolean;
  createTime: number;
  updateTime: number;
}

export type GrantType = "client_credentials" | "refresh_token" | "authorization_code";
export const GRANT_TYPES: readonly GrantType[] = ["client_credentials", "refresh_token", "authorization_code"];

/** How a client authenticates at the token endpoint; "none" is a public client. */
export type TokenEndpointAuthMethod = "client_secret_basic" | "client_secret_post" | "none";
export const TOKEN_ENDPOINT_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ["client_secret_basic", "client_secret_post", "none"];

export interface Client extends LifetimeOverrides {
  id: string;
  tenantId: string;
  applicationId: string;
  displayName: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** ID token algorithm for this client; undefined means the server default. */
  idTokenSignedResponseAlg: SigningAlg | undefined;
  /** Keyed hash of the secret; undefined for a public client. */
  secretHash: Buffer | undefined;
  previousSecretHash: Buffer | undefined;
  previousSecretExpireTime: number | undefined;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** Empty means every grant type. */
  grantTypes: GrantType[];
  scopes: string[];
  webOrigins: string[];
  /** The ids of the resources the client may target. */
  resourceIds: string[];
  reuseLeeway: number;
  createTime: number;
  updateTime: number;
}

export interface User {
  id: string;
  tenantId: string;
  username: string;
  email: string;
  passwordHash: string | undefined;
  roles: string[];
  customClaims: Record<string, unknown>;
  applicationIds: string[];
  createTime: number;
  updateTime: number;
}

/** Usernames compare case-insensitively (Unicode-aware): the key storage looks them up by. */
export const usernameKey = (username: string): string => username.normalize("NFKC").toLowerCase();

export interface Session {
  /** Public id: the `sid` claim. The secret session_id is only stored hashed. */
  id: string;
  tenantId: string;
  userId: string;
  applicationId: string | undefined;
  amr: string[];
  createTime: number;
  authTime: number;
  expireTime: number;
  revokeTime: number | undefined;
}

export interface ResolvedLifetimes {
  accessTokenTtl: number;
  refreshTokenTtl: number;
  maxRotation: number;
}

export function clientAllowsGrant(client: Client, grant: GrantType): boolean {
  return client.grantTypes.length === 0 || client.grantTypes.includes(grant);
}

/** A new client's fields besides its identity and secret: no secret history, empty lists, no lifetime overrides. */
export function clientDefaults(now: number): Omit<Client, "id" | "tenantId" | "applicationId" | "displayName" | "secretHash"> {
  return {
    tokenEndpointAuthMethod: "client_secret_basic",
    idTokenSignedResponseAlg: undefined,
    previousSecretHash: undefined,
    previousSecretExpireTime: undefined,
    redirectUris: [],
    postLogoutRedirectUris: [],
    grantTypes: [],
    scopes: [],
    webOrigins: [],
    resourceIds: [],
    accessTokenTtl: undefined,
    refreshTokenTtl: undefined,
    maxRotation: undefined,
    reuseLeeway: 0,
    createTime: now,
    updateTime: now,
  };
}
