import { create, createFileRegistry, equals, fromJsonString, isFieldSet, toBinary, toJsonString, ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import {
  BoolValueSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  Int32ValueSchema,
  StringValueSchema,
  UInt32ValueSchema,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { IssueClientTokenRequestSchema, IssueClientTokenResponseSchema } from "../../gen/tessera/v1/token_service_pb.js";
import { flatFromJson, flatJsonBytes } from "../../src/transport/http/flat-json.js";
import { tesseraSchemas } from "../helpers/schemas.js";

// flat-json.ts reads and writes Connect JSON for flat messages itself. Whenever it answers, the answer must be
// exactly what connect's codec gives (TextDecoder + fromJsonString ignoring unknown keys; toJsonString + UTF-8);
// whenever protobuf-es would refuse, it must step aside so that protobuf-es words the error.

/** A file of its own for what tessera's protos do not have: explicit presence, a custom json_name, proto2. */
function testFile(syntax: "proto3" | "proto2") {
  // protoc fills in every field's json_name; a descriptor made by hand must too.
  const jsonName = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const scalar = (name: string, number: number, type: Type, extra: Record<string, unknown> = {}) => ({ name, number, type, label: Label.OPTIONAL, jsonName: jsonName(name), ...extra });
  const flatFields = [
    scalar("s", 1, Type.STRING),
    scalar("b", 2, Type.BOOL),
    scalar("i", 3, Type.INT32),
    scalar("u", 4, Type.UINT32),
    scalar("snake_name", 5, Type.STRING),
    scalar("x", 6, Type.STRING, { jsonName: "customX" }),
    ...(syntax === "proto3" ? [scalar("os", 7, Type.STRING, { proto3Optional: true, oneofIndex: 0 }), scalar("oi", 8, Type.INT32, { proto3Optional: true, oneofIndex: 1 })] : []),
  ];
  return createFileRegistry(
    create(FileDescriptorProtoSchema, {
      name: `flat_${syntax}.proto`,
      package: `flat.${syntax}`,
      syntax,
      messageType: [
        { name: "Flat", field: flatFields, oneofDecl: syntax === "proto3" ? [{ name: "_os" }, { name: "_oi" }] : [] },
        { name: "WithBytes", field: [scalar("data", 1, Type.BYTES)] },
        { name: "WithDouble", field: [scalar("d", 1, Type.DOUBLE)] },
        { name: "WithInt64", field: [scalar("n", 1, Type.INT64)] },
        { name: "WithOneof", field: [scalar("a", 1, Type.STRING, { oneofIndex: 0 })], oneofDecl: [{ name: "choice" }] },
        { name: "WithNested", field: [scalar("f", 1, Type.MESSAGE, { typeName: `.flat.${syntax}.Flat` })] },
      ],
    }),
    () => undefined,
  );
}

const proto3 = testFile("proto3");
const proto2 = testFile("proto2");
const message = (registry: ReturnType<typeof testFile>, name: string) => registry.getMessage(name)!;
const Flat3 = message(proto3, "flat.proto3.Flat");
const Flat2 = message(proto2, "flat.proto2.Flat");
// Well-known types have JSON of their own (a StringValue is a bare string), though some look flat.
const notFlat = [
  ...["WithBytes", "WithDouble", "WithInt64", "WithOneof", "WithNested"].map((n) => message(proto3, `flat.proto3.${n}`)),
  StringValueSchema,
  BoolValueSchema,
  Int32ValueSchema,
  UInt32ValueSchema,
];

const tessera = tesseraSchemas();
const schemas = [...tessera, Flat3, Flat2, ...notFlat];

/** A deterministic generator, so that a failure names its seed. */
function random(seed: number) {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  return { next, pick: <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)]! };
}

const STRINGS = ["", "a", "Bearer", 'quote " and \\ backslash', "tab\tnew\nline\u0001", "ü & 100%", "\ud83d\ude00", "lone \ud800", "\u2028", "x".repeat(300), "eyJ".repeat(250)];
const NUMBERS = [0, -0, 1, -1, 127, 3600, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32 - 1, 2 ** 32, 1.5, 1e21, Number.NaN];

/** A value for a field: mostly of its type, sometimes not. */
function valueFor(field: DescField, r: ReturnType<typeof random>): unknown {
  if (r.next() < 0.1) return r.pick<unknown>(["5", 5, true, null, undefined, "true"]);
  if (field.fieldKind === "enum") return field.enum.values[0]!.number;
  if (field.fieldKind !== "scalar") return undefined;
  switch (field.scalar) {
    case ScalarType.STRING:
      return r.pick(STRINGS);
    case ScalarType.BOOL:
      return r.pick([true, false]);
    case ScalarType.INT32:
    case ScalarType.UINT32:
      return r.pick(NUMBERS);
    default:
      return undefined;
  }
}

/** connect's reading of a JSON body: the message, or the error's message. */
function reference(schema: DescMessage, bytes: Uint8Array): Message | string {
  try {
    return fromJsonString(schema, new TextDecoder().decode(bytes), { ignoreUnknownFields: true });
  } catch (err) {
    return (err as Error).message;
  }
}

/** The same message, field for field, presence included. */
function expectSame(schema: DescMessage, actual: Message, expected: Message, what: string) {
  expect(actual.$typeName, what).toBe(expected.$typeName);
  expect(equals(schema, actual, expected), what).toBe(true);
  expect(toBinary(schema, actual), what).toEqual(toBinary(schema, expected));
  for (const field of schema.fields) expect(isFieldSet(actual, field), `${what}: ${field.name} set`).toBe(isFieldSet(expected, field));
}

describe("flatJsonBytes: toJsonString's bytes, or undefined", () => {
  it("takes flat messages, tessera's token answers among them, and leaves the others", () => {
    expect(flatJsonBytes(IssueClientTokenResponseSchema, create(IssueClientTokenResponseSchema))).toEqual(Buffer.from("{}"));
    expect(flatJsonBytes(Flat3, create(Flat3))).toEqual(Buffer.from("{}"));
    expect(flatJsonBytes(Flat2, create(Flat2))).toEqual(Buffer.from("{}"));
    for (const schema of notFlat) {
      expect(flatJsonBytes(schema, create(schema)), schema.typeName).toBeUndefined();
      expect(flatFromJson(schema, Buffer.from("{}")), schema.typeName).toBeUndefined();
    }
    expect(tessera.filter((s) => flatJsonBytes(s, create(s)) !== undefined).length).toBeGreaterThan(10);
  });

  it("writes what toJsonString writes, for every schema and thousands of generated messages", () => {
    let written = 0;
    for (const [index, schema] of schemas.entries()) {
      for (let round = 0; round < 150; round++) {
        const r = random(index * 1000 + round + 1);
        const msg = create(schema) as unknown as Record<string, unknown>;
        for (const field of schema.fields) {
          if (field.oneof !== undefined && !field.proto.proto3Optional) continue;
          if (r.next() < 0.3) continue;
          const value = valueFor(field, r);
          if (value !== undefined) msg[field.localName] = value;
        }
        let expected: string;
        try {
          expected = toJsonString(schema, msg as unknown as Message);
        } catch (err) {
          expected = `refused: ${(err as Error).message}`;
        }
        const actual = flatJsonBytes(schema, msg as unknown as Message);
        if (actual === undefined) continue;
        if (!actual.equals(Buffer.from(expected, "utf8"))) {
          const what = `${schema.typeName} round ${round}: ${JSON.stringify(msg, (_, v: unknown) => (typeof v === "bigint" ? `${v}n` : v))}`;
          expect(actual.toString("utf8"), what).toBe(expected);
          expect(actual, what).toEqual(Buffer.from(expected, "utf8"));
        }
        written += 1;
      }
    }
    // Most generated messages are flat and well-typed: the fast path must have written them.
    expect(written).toBeGreaterThan(2000);
  });

  it("writes an explicit field set to zero, and leaves out an unset one, as toJsonString does", () => {
    const set = create(Flat3, { os: "", oi: 0, s: "", i: 0 });
    expect(flatJsonBytes(Flat3, set)!.toString()).toBe('{"os":"","oi":0}');
    expect(flatJsonBytes(Flat3, set)!.toString()).toBe(toJsonString(Flat3, set));
    const proto2Set = create(Flat2, { s: "", x: "y" });
    expect(flatJsonBytes(Flat2, proto2Set)!.toString()).toBe(toJsonString(Flat2, proto2Set));
    expect(flatJsonBytes(Flat2, proto2Set)!.toString()).toBe('{"s":"","customX":"y"}');
  });

  it("steps aside for a value of the wrong type, so the error stays toJsonString's", () => {
    const msg = create(IssueClientTokenResponseSchema, { accessToken: "a" });
    (msg as unknown as { expiresIn: unknown }).expiresIn = "3600";
    expect(flatJsonBytes(IssueClientTokenResponseSchema, msg)).toBeUndefined();
    expect(() => toJsonString(IssueClientTokenResponseSchema, msg)).toThrow(/cannot encode/);
  });
});

describe("flatFromJson: fromJsonString's message, or undefined", () => {
  const read = (schema: DescMessage, text: string | Uint8Array) => flatFromJson(schema, typeof text === "string" ? Buffer.from(text, "utf8") : Buffer.from(text));

  it("reads the bodies callers send", () => {
    const cases: [DescMessage, string][] = [
      [IssueClientTokenRequestSchema, "{}"],
      [IssueClientTokenRequestSchema, '{"clientId":"cli_1","clientSecret":"s3cr3t","scope":"read write"}'],
      [IssueClientTokenRequestSchema, '{ "client_id" : "cli_1" , "resource": "https://api.example.com/" }'],
      [IssueClientTokenRequestSchema, '{"scope": "", "someFutureField": 1}'],
      [IssueClientTokenRequestSchema, '{"future": {}, "list": [1, "a", [], {}], "scope": "s"}'],
      [Flat3, '{"s":"a","b":true,"i":-5,"u":4294967295,"snakeName":"n","customX":"c","os":"","oi":0}'],
      [Flat3, '{"snake_name":"n","x":"c","i":null,"s":"esc \\" \\\\ \\n \\u0041"}'],
      [Flat3, '{"i": 1e2, "u": 7.0, "s": "\\u2028"}'],
      [Flat2, '{"s":"","i":0}'],
    ];
    for (const [schema, text] of cases) {
      const fast = read(schema, text);
      const expected = reference(schema, Buffer.from(text));
      expect(typeof expected, `${text}: ${String(expected)}`).toBe("object");
      expect(fast, text).toBeDefined();
      expectSame(schema, fast!, expected as Message, text);
    }
  });

  it("steps aside wherever fromJsonString refuses or decodes otherwise", () => {
    const cases: [DescMessage, string | Uint8Array][] = [
      [IssueClientTokenRequestSchema, ""],
      [IssueClientTokenRequestSchema, "{"],
      [IssueClientTokenRequestSchema, "[]"],
      [IssueClientTokenRequestSchema, "null"],
      [IssueClientTokenRequestSchema, '"text"'],
      [IssueClientTokenRequestSchema, '{"clientId": 5}'],
      [IssueClientTokenRequestSchema, '{"clientId": true}'],
      [IssueClientTokenRequestSchema, '{"clientId": {"nested": 1}}'],
      [IssueClientTokenRequestSchema, '{"clientId": []}'],
      [IssueClientTokenRequestSchema, '{"future": {"a": 1, "a": 2}}'],
      [IssueClientTokenRequestSchema, '{"future": [{"a": 1}]}'],
      [IssueClientTokenRequestSchema, '{"scope":"a","scope":"b"}'],
      [IssueClientTokenRequestSchema, '{"client_id":"a","clientId":"b"}'],
      [IssueClientTokenRequestSchema, '{"clientId":null,"client_id":"b"}'],
      [IssueClientTokenRequestSchema, '{"unknown":1,"unknown":2}'],
      [IssueClientTokenRequestSchema, '{"clientId":"lone \\ud800"}'],
      [IssueClientTokenRequestSchema, Buffer.from('\ufeff{"clientId":"bom"}', "utf8")],
      [IssueClientTokenRequestSchema, Buffer.from('{"clientId":"ü"}', "utf8")],
      [IssueClientTokenRequestSchema, Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
      [Flat3, '{"i": 2147483648}'],
      [Flat3, '{"i": 1.5}'],
      [Flat3, '{"i": "5"}'],
      [Flat3, '{"u": -1}'],
      [Flat3, '{"b": "true"}'],
      [Flat3, '{"b": 1}'],
      [Flat3, '{"x":"a","customX":"b"}'],
      [message(proto3, "flat.proto3.WithBytes"), '{"data":""}'],
      [message(proto3, "flat.proto3.WithNested"), "{}"],
    ];
    for (const [schema, text] of cases) {
      const what = typeof text === "string" ? text : Buffer.from(text).toString("hex");
      expect(read(schema, text), what).toBeUndefined();
    }
  });

  it("agrees with fromJsonString on thousands of generated bodies: the same message whenever it answers", () => {
    let answered = 0;
    let refusedByReference = 0;
    const flatSchemas = schemas.filter((s) => flatJsonBytes(s, create(s)) !== undefined);
    for (const [index, schema] of flatSchemas.entries()) {
      const keys = schema.fields.flatMap((f) => [f.name, f.jsonName]);
      for (let round = 0; round < 150; round++) {
        const r = random(index * 7919 + round + 1);
        const members: string[] = [];
        const count = Math.floor(r.next() * 6);
        for (let m = 0; m < count; m++) {
          const key = r.next() < 0.15 ? r.pick(["unknown", "__proto__", "constructor", "[ext]"]) : r.pick(keys);
          const field = schema.fields.find((f) => f.name === key || f.jsonName === key);
          const value = field === undefined ? r.pick<unknown>([1, "x", null, true]) : valueFor(field, r);
          if (value === undefined || (typeof value === "number" && !Number.isFinite(value))) continue;
          members.push(`${JSON.stringify(key)}${r.pick([":", " : "])}${JSON.stringify(value)}`);
        }
        const text = `{${members.join(r.pick([",", " ,\n"]))}}`;
        const expected = reference(schema, Buffer.from(text, "utf8"));
        const fast = read(schema, text);
        if (typeof expected === "string") refusedByReference += 1;
        if (fast === undefined) continue;
        expect(typeof expected, `${schema.typeName} ${text} → ${String(expected)}`).toBe("object");
        expectSame(schema, fast, expected as Message, `${schema.typeName} ${text}`);
        answered += 1;
      }
    }
    expect(answered).toBeGreaterThan(1000);
    expect(refusedByReference).toBeGreaterThan(100);
  });
});
