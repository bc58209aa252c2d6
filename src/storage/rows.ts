import type { SigningKeyRecord } from "../domain/records.js";

/** Column conversions both engines share; each adapter's own rows.ts adds what differs (JSON text vs JSONB). */
export const json = (value: unknown): string => JSON.stringify(value);
export const optionalNumber = (value: number | null): number | undefined => (value === null ? undefined : value);
export const nullable = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

/** A signing_keys row: the same columns and types on both engines. */
export interface SigningKeyRow {
  kid: string;
  algorithm: string;
  public_jwk: string;
  private_key: Buffer;
  create_time: number;
  activate_time: number;
  retire_time: number | null;
  expire_time: number | null;
}

export const toSigningKeyRecord = (r: SigningKeyRow): SigningKeyRecord => ({
  kid: r.kid,
  algorithm: r.algorithm,
  publicJwk: r.public_jwk,
  privateKey: r.private_key,
  createTime: r.create_time,
  activateTime: r.activate_time,
  retireTime: optionalNumber(r.retire_time),
  expireTime: optionalNumber(r.expire_time),
});
