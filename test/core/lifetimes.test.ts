import { describe, expect, it } from "vitest";
import { DEFAULT_LIFETIMES } from "../../src/config.js";
import { refreshTokenExpiry, resolveLifetimes } from "../../src/core/lifetimes.js";

describe("resolveLifetimes", () => {
  it("uses the tenant defaults when neither resource nor client override", () => {
    expect(resolveLifetimes(undefined, undefined)).toEqual({ accessTokenTtl: 3600, refreshTokenTtl: 14 * 86400, maxRotation: 365 * 86400 });
    expect(resolveLifetimes({}, {})).toEqual(DEFAULT_LIFETIMES);
  });

  it("prefers the client's override to the default", () => {
    expect(resolveLifetimes({}, { accessTokenTtl: 600 }).accessTokenTtl).toBe(600);
  });

  it("prefers the resource's setting to the client's override", () => {
    expect(resolveLifetimes({ accessTokenTtl: 120 }, { accessTokenTtl: 600 }).accessTokenTtl).toBe(120);
  });

  it("decides each setting on its own", () => {
    const resolved = resolveLifetimes({ accessTokenTtl: 120 }, { refreshTokenTtl: 7200, maxRotation: 86400 });
    expect(resolved).toEqual({ accessTokenTtl: 120, refreshTokenTtl: 7200, maxRotation: 86400 });
  });

  it("caps the refresh TTL by the maximum rotation, wherever each comes from", () => {
    expect(resolveLifetimes({ maxRotation: 3600 }, { refreshTokenTtl: 86400 })).toEqual({
      accessTokenTtl: 3600,
      refreshTokenTtl: 3600,
      maxRotation: 3600,
    });
    expect(resolveLifetimes(undefined, { maxRotation: 86400 }).refreshTokenTtl).toBe(86400);
  });

  it("takes other defaults when given", () => {
    expect(resolveLifetimes(undefined, undefined, { accessTokenTtl: 1, refreshTokenTtl: 5, maxRotation: 3 })).toEqual({
      accessTokenTtl: 1,
      refreshTokenTtl: 3,
      maxRotation: 3,
    });
  });
});

describe("refreshTokenExpiry", () => {
  it("is the TTL from issue, never past the family's maximum", () => {
    expect(refreshTokenExpiry(1000, 100, 5000)).toBe(1100);
    expect(refreshTokenExpiry(1000, 100, 1050)).toBe(1050);
  });
});
