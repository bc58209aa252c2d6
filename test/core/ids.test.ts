import { describe, expect, it } from "vitest";
import { newClientId, newId, newSecret } from "../../src/domain/ids.js";

describe("identifiers", () => {
  it("client ids are 128-bit base64url, unique, and never start like a command-line option", () => {
    const ids = Array.from({ length: 5000 }, newClientId);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("prefixed ids and secrets have their documented shapes", () => {
    expect(newId("app")).toMatch(/^app_[A-Za-z0-9_-]{16}$/);
    expect(newSecret()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
