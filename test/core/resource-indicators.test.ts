import { describe, expect, it } from "vitest";
import { OAuthError } from "../../src/domain/errors.js";
import { parseResourceIndicator, validateResourceUri } from "../../src/core/resource-indicators.js";

function kindOf(fn: () => unknown): { kind: string; description: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OAuthError);
    return { kind: (err as OAuthError).kind, description: (err as OAuthError).description };
  }
  throw new Error("expected an error");
}

describe("parseResourceIndicator", () => {
  it("accepts absolute URIs as given", () => {
    expect(parseResourceIndicator("https://api.example.com/v1")).toBe("https://api.example.com/v1");
    expect(parseResourceIndicator("urn:example:orders")).toBe("urn:example:orders");
    expect(parseResourceIndicator("https://api.example.com/?tenant=a")).toBe("https://api.example.com/?tenant=a");
  });

  it("accepts the default resource's identifier userid-api", () => {
    expect(parseResourceIndicator("userid-api")).toBe("userid-api");
  });

  it("refuses a fragment, even an empty one", () => {
    expect(kindOf(() => parseResourceIndicator("https://api.example.com/#part"))).toMatchObject({
      kind: "invalid_target",
      description: expect.stringContaining("fragment"),
    });
    expect(kindOf(() => parseResourceIndicator("https://api.example.com/#")).kind).toBe("invalid_target");
  });

  it("refuses relative references", () => {
    for (const value of ["/orders", "orders", "//api.example.com/x", "api.example.com", "userid-api/x", ""]) {
      expect(kindOf(() => parseResourceIndicator(value)), value).toMatchObject({
        kind: "invalid_target",
        description: expect.stringContaining("absolute URI"),
      });
    }
  });

  it("refuses white space", () => {
    for (const value of ["https://a.example/ x", "https://a.example/x\t", " https://a.example/", "https://a.example/\n"]) {
      expect(kindOf(() => parseResourceIndicator(value)).kind, JSON.stringify(value)).toBe("invalid_target");
    }
  });

  it("refuses more than 2048 characters and accepts exactly 2048", () => {
    const base = "https://api.example.com/";
    expect(parseResourceIndicator(base + "a".repeat(2048 - base.length))).toHaveLength(2048);
    expect(kindOf(() => parseResourceIndicator(base + "a".repeat(2049 - base.length)))).toMatchObject({
      kind: "invalid_target",
      description: expect.stringContaining("2048"),
    });
  });

  it("keeps descriptions short for long input", () => {
    const { description } = kindOf(() => parseResourceIndicator(`/${"x".repeat(1000)}`));
    expect(description.length).toBeLessThan(200);
  });
});

describe("validateResourceUri (admin input)", () => {
  it("reports invalid_request naming the field", () => {
    expect(kindOf(() => validateResourceUri("/relative"))).toMatchObject({ kind: "invalid_request", description: expect.stringContaining("resource.uri") });
    expect(kindOf(() => validateResourceUri(""))).toMatchObject({ kind: "invalid_request", description: "resource.uri is required" });
    expect(kindOf(() => validateResourceUri("userid-api")).description).toContain("reserved");
    expect(validateResourceUri("https://api.example.com")).toBe("https://api.example.com");
  });
});
