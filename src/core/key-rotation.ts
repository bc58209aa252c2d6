import type { SigningAlgorithm } from "../config.js";
import type { Core } from "./core.js";
import type { SigningKeyRecord } from "../domain/records.js";

/**
 * Creates the next signing key of `algorithm` (default TESSERA_SIGNING_ALG): published now, signing
 * after `config.keyAnnouncePeriod` (at least the JWKS max-age, so a verifier's cached JWKS already has
 * it); that algorithm's current key retires then and stays published while tokens it signed may be alive.
 */
export async function rotateSigningKey(core: Core, algorithm?: SigningAlgorithm): Promise<SigningKeyRecord> {
  await core.keys.purgeExpired();
  return core.keys.rotate(algorithm ?? core.config.signingAlgorithm, core.config.keyAnnouncePeriod);
}

/**
 * Automatic rotation (`config.keyRotationPeriod` > 0): rotates each algorithm whose newest key was
 * created a full period ago, and drops keys whose publication ended. Returns the last new key, if any.
 */
export async function rotateKeysIfDue(core: Core): Promise<SigningKeyRecord | undefined> {
  await core.keys.purgeExpired();
  const period = core.config.keyRotationPeriod;
  if (period <= 0) return undefined;
  const now = core.now();
  const newest = new Map<SigningAlgorithm, number>();
  for (const k of core.keys.list()) {
    if (k.retireTime !== undefined && k.retireTime <= now) continue;
    const alg = k.algorithm as SigningAlgorithm;
    newest.set(alg, Math.max(newest.get(alg) ?? 0, k.createTime));
  }
  let rotated: SigningKeyRecord | undefined;
  for (const [alg, created] of newest) if (now - created >= period) rotated = await rotateSigningKey(core, alg);
  return rotated;
}
