import type { RefreshFamily, RefreshTokenRecord } from "./records.js";

/** How many times one consumed token may be retried inside the client's reuse leeway (a burst of parallel duplicates fits). */
export const MAX_REUSE_RETRIES = 64;

/** Why a refresh token cannot rotate. */
export type RotationFailure = "reuse" | "revoked" | "expired" | "reauthenticate";
export type RotationOutcome = "rotated" | "retried" | RotationFailure;

/**
 * One rotation write, the input of `Storage.rotateRefreshToken`. Everything is computed by the core
 * before the write (hashes, expiry); the engine only decides the winner and classifies a loser.
 */
export interface RefreshRotation {
  /** Hash of the presented token. */
  hash: Buffer;
  /** Hash of its deterministic successor (a retry inside the leeway is answered with the same one). */
  successorHash: Buffer;
  familyId: string;
  /** The successor's generation: the presented token's + 1. */
  generation: number;
  successorExpireTime: number;
  /** The client's reuse leeway in seconds; 0 means every second presentation is reuse. */
  reuseLeeway: number;
  now: number;
}

/** What can be refused from a read of the token and its family (before the write, and again inside it). */
export function rotationPrecheck(token: RefreshTokenRecord, family: RefreshFamily, now: number): RotationFailure | undefined {
  if (family.revokeTime !== undefined) return "revoked";
  if (family.maxExpireTime <= now) return "reauthenticate";
  if (token.consumeTime === undefined && token.expireTime <= now) return "expired";
  return undefined;
}

/**
 * The rotation's decision when the conditional consume did not take the token, from a fresh read
 * inside the same atomic write. "retry" means: count the retry with a conditional update of
 * reuse_count (`WHERE reuse_count = token.reuseCount`); if that update wins the answer is "retried",
 * else (or for "reuse") the family is revoked with reason "reuse_detected", a reuse event recorded,
 * and the answer is "reuse". Written once here so that every engine classifies alike.
 */
export function classifyUnconsumed(
  r: RefreshRotation,
  token: RefreshTokenRecord | undefined,
  family: RefreshFamily | undefined,
  successor: RefreshTokenRecord | undefined,
): "retry" | RotationFailure {
  if (token === undefined || family === undefined) return "revoked";
  const refused = rotationPrecheck(token, family, r.now);
  if (refused !== undefined) return refused;
  if (token.consumeTime === undefined) return "expired";
  const retry =
    r.reuseLeeway > 0 &&
    r.now - token.consumeTime <= r.reuseLeeway &&
    token.reuseCount < MAX_REUSE_RETRIES &&
    successor !== undefined &&
    successor.consumeTime === undefined &&
    successor.expireTime > r.now;
  return retry ? "retry" : "reuse";
}
