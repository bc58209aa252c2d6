import type { SigningAlgorithm } from "../config.js";
import type { Core } from "./core.js";
import type { SigningKeyRecord } from "../domain/records.js";

/**
 * Creates the next signing key: published now, signing after `config.keyAnnouncePeriod`;
 * the current key retires then and stays published while tokens it signed may be alive.
 */
export async function rotateSigningKey(core: Core, algorithm?: SigningAlgorithm): Promise<SigningKeyRecord> {
  await core.keys.purgeExpired();
  return core.keys.rotate(algorithm ?? core.config.signingAlgorithm, core.config.keyAnnouncePeriod);
}

/**
 * Automatic rotation (`config.keyRotationPeriod` > 0): rotates when the newest key was created
 * a full period ago, and drops keys whose publication ended. Returns the new key, if any.
 */
export async function rotateKeysIfDue(core: Core): Promise<SigningKeyRecord | undefined> {
  await core.keys.purgeExpired();
  const period = core.config.keyRotationPeriod;
  if (period <= 0) return undefined;
  const newest = Math.max(...core.keys.list().map((k) => k.createTime));
  return core.now() - newest >= period ? rotateSigningKey(core) : undefined;
}
