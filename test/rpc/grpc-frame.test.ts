import { create, ScalarType, toBinary, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { IssueClientTokenResponseSchema } from "../../gen/tessera/v1/token_service_pb.js";
import { grpcFrame } from "../../src/transport/rpc/grpc-frame.js";
import { tesseraSchemas } from "../helpers/schemas.js";

// grpcFrame writes flat messages itself and leaves the rest to toBinary: whichever way, the frame must be the
// 5-byte prefix and exactly toBinary's bytes, for every message tessera's services define.

const schemas = tesseraSchemas();

/** toBinary's bytes as a gRPC frame. */
function expected(schema: DescMessage, message: Message): Buffer {
  const bytes = toBinary(schema, message);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([prefix, bytes]);
}

const flat = (m: DescMessage) => m.fields.every((f) => f.oneof === undefined && (f.fieldKind === "scalar" || f.fieldKind === "enum"));

/** A value for a scalar or enum field, from a small set of edge cases picked by `i`. */
function valueFor(field: DescField, i: number): unknown {
  if (field.fieldKind === "enum") return field.enum.values[i % field.enum.values.length]!.number;
  if (field.fieldKind !== "scalar") return undefined;
  const pick = <T>(values: T[]) => values[i % values.length];
  switch (field.scalar) {
    case ScalarType.STRING:
      return pick(["", "a", "ü & 100%", "x".repeat(200), "\ud83d\ude00 emoji", "lone \ud800 surrogate", "eyJ".repeat(400)]);
    case ScalarType.BOOL:
      return pick([false, true]);
    case ScalarType.INT32:
      return pick([0, 1, 127, 128, 300, 16_383, 16_384, 2_147_483_647, -1, -2_147_483_648]);
    case ScalarType.UINT32:
      return pick([0, 1, 127, 128, 4_294_967_295, 2_097_152]);
    case ScalarType.BYTES:
      return pick([new Uint8Array(0), new Uint8Array([0, 255, 7]), new Uint8Array(300).fill(9)]);
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return pick([0n, 1n, 1_700_000_000n, 9_007_199_254_740_993n]);
    default:
      return pick([0, 1, 3]);
  }
}

describe("grpcFrame", () => {
  it("covers flat messages and others among tessera's schemas", () => {
    expect(schemas.filter(flat).length).toBeGreaterThan(10);
    expect(schemas.filter((m) => !flat(m)).length).toBeGreaterThan(3);
    expect(flat(IssueClientTokenResponseSchema)).toBe(true);
  });

  it("writes toBinary's bytes for every message of every service, defaults and edge values", () => {
    let compared = 0;
    for (const schema of schemas) {
      expect(grpcFrame(schema, create(schema))).toEqual(expected(schema, create(schema)));
      for (let i = 0; i < 12; i++) {
        const init: Record<string, unknown> = {};
        for (const field of schema.fields) {
          if (field.oneof !== undefined || (field.fieldKind !== "scalar" && field.fieldKind !== "enum")) continue;
          // Leave some fields unset in each round.
          if ((i + field.number) % 3 === 0) continue;
          init[field.localName] = valueFor(field, i + field.number);
        }
        const message = create(schema, init as never);
        expect(grpcFrame(schema, message), `${schema.typeName} round ${i}`).toEqual(expected(schema, message));
        compared += 1;
      }
    }
    expect(compared).toBe(schemas.length * 12);
  });

  it("writes a token response as toBinary does, and falls back to toBinary for unknown fields", () => {
    const response = create(IssueClientTokenResponseSchema, { accessToken: "eyJhbGciOi.x.y", tokenType: "Bearer", expiresIn: 3600, scope: "read write" });
    const frame = grpcFrame(IssueClientTokenResponseSchema, response);
    expect(frame.readUInt32BE(1)).toBe(frame.length - 5);
    expect(frame).toEqual(expected(IssueClientTokenResponseSchema, response));

    const withUnknown = create(IssueClientTokenResponseSchema, { tokenType: "Bearer" });
    withUnknown.$unknown = [{ no: 99, wireType: 2, data: new Uint8Array([3, 1, 2, 3]) }];
    expect(grpcFrame(IssueClientTokenResponseSchema, withUnknown)).toEqual(expected(IssueClientTokenResponseSchema, withUnknown));
    expect(grpcFrame(IssueClientTokenResponseSchema, withUnknown).length).toBeGreaterThan(13);
  });

  it("refuses what toBinary refuses, with its error", () => {
    for (const bad of [1.5, 2 ** 31, Number.NaN]) {
      const message = create(IssueClientTokenResponseSchema, { accessToken: "a" });
      (message as { expiresIn: unknown }).expiresIn = bad;
      expect(() => toBinary(IssueClientTokenResponseSchema, message)).toThrow();
      expect(() => grpcFrame(IssueClientTokenResponseSchema, message)).toThrow(
        (() => {
          try {
            toBinary(IssueClientTokenResponseSchema, message);
          } catch (err) {
            return (err as Error).message;
          }
          return "";
        })(),
      );
    }
  });
});
