import { describe, expect, it } from "vitest";
import { OAuthError } from "../../src/domain/errors.js";
import { formatScope, parseScope, requireAllowedScopes } from "../../src/core/scopes.js";

const kind = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as OAuthError).kind;
  }
  return "none";
};

describe("parseScope", () => {
  it("treats absent and empty as no scopes", () => {
    expect(parseScope(undefined)).toEqual([]);
    expect(parseScope("")).toEqual([]);
  });

  it("splits on single spaces, keeps order, drops duplicates", () => {
    expect(parseScope("read write read admin")).toEqual(["read", "write", "admin"]);
    expect(parseScope("orders:read")).toEqual(["orders:read"]);
  });

  it("refuses doubled, leading or trailing spaces as invalid_request", () => {
    for (const s of ["a  b", " a", "a ", " "]) expect(kind(() => parseScope(s)), JSON.stringify(s)).toBe("invalid_request");
  });

  it("refuses characters outside RFC 6749 scope-token as invalid_scope", () => {
    for (const s of ['a"b', "a\\b", "a\tb", "é", "a\u0000"]) expect(kind(() => parseScope(s)), JSON.stringify(s)).toBe("invalid_scope");
  });

  it("formats back with single spaces", () => {
    expect(formatScope(parseScope("b a"))).toBe("b a");
  });
});

describe("requireAllowedScopes", () => {
  it("passes a subset and names the first scope that is not allowed", () => {
    expect(() => requireAllowedScopes(["read"], ["read", "write"])).not.toThrow();
    expect(() => requireAllowedScopes([], [])).not.toThrow();
    expect(() => requireAllowedScopes(["read", "admin"], ["read"])).toThrow(/scope "admin" is not allowed/);
    expect(kind(() => requireAllowedScopes(["x"], []))).toBe("invalid_scope");
  });
});
