import { DEFAULT_LIFETIMES } from "../config.js";
import type { LifetimeOverrides, ResolvedLifetimes } from "../domain/types.js";

/**
 * Token lifetimes, first match wins per setting: the targeted resource's, then the
 * client's override, then the tenant default. The refresh TTL never exceeds the maximum rotation.
 */
export function resolveLifetimes(
  resource: LifetimeOverrides | undefined,
  client: LifetimeOverrides | undefined,
  defaults: ResolvedLifetimes = DEFAULT_LIFETIMES,
): ResolvedLifetimes {
  const pick = (key: keyof LifetimeOverrides) => resource?.[key] ?? client?.[key] ?? defaults[key];
  const maxRotation = pick("maxRotation");
  return {
    accessTokenTtl: pick("accessTokenTtl"),
    refreshTokenTtl: Math.min(pick("refreshTokenTtl"), maxRotation),
    maxRotation,
  };
}

/** A refresh token's expiry: its own TTL from issue, capped by the family's maximum rotation. */
export function refreshTokenExpiry(now: number, refreshTokenTtl: number, familyMaxExpireTime: number): number {
  return Math.min(now + refreshTokenTtl, familyMaxExpireTime);
}
