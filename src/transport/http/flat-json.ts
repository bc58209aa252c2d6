import { create, ScalarType, type DescMessage, type Message } from "@bufbuild/protobuf";
import { isAscii } from "node:buffer";

/**
 * The Connect JSON codec for flat messages, the unary path's common case.
 *
 * Most of tessera's requests and answers are flat messages of strings, numbers and booleans (every token call).
 * protobuf-es reads and writes their JSON through reflection: a TextDecoder, a duplicate-key scan, a reflected
 * message and a checked `set` per field on the way in; `reflect`, the write options and a JSON value on the way out.
 * For these messages that cost a Connect call about 6 % of its CPU (docs/performance.md, eighth session).
 *
 * Both functions answer only when the answer is certain to be protobuf-es's own (test/rpc/flat-json.test.ts compares
 * them over every case below and thousands of generated ones). For anything else they return undefined and the
 * caller takes connect's serialization: any other message (enums, bytes, 64-bit and floating-point numbers, nested
 * messages, lists, maps, oneofs, well-known types), a body that is not ASCII, JSON that does not parse, a value of
 * the wrong type or out of range, a key set twice. Its errors stay protobuf-es's, word for word.
 */

type Kind = "string" | "bool" | "int32" | "uint32";

interface JsonField {
  localName: string;
  jsonName: string;
  kind: Kind;
  /** proto3 `optional` (or proto2): present when set, even to zero. */
  explicit: boolean;
}

interface JsonPlan {
  /** In field-number order, the order toJson writes them in. */
  fields: JsonField[];
  /** By the keys fromJson accepts: the proto name and the JSON name. */
  byKey: Map<string, JsonField>;
}

const KINDS = new Map<ScalarType, Kind>([
  [ScalarType.STRING, "string"],
  [ScalarType.BOOL, "bool"],
  [ScalarType.INT32, "int32"],
  [ScalarType.UINT32, "uint32"],
]);

const plans = new WeakMap<DescMessage, JsonPlan | null>();

function planOf(schema: DescMessage): JsonPlan | null {
  let plan = plans.get(schema);
  if (plan === undefined) plans.set(schema, (plan = planFor(schema)));
  return plan;
}

/** The plan, or null if a field is not a flat scalar or the message is a well-known type (its JSON is its own). */
function planFor(schema: DescMessage): JsonPlan | null {
  if (schema.typeName.startsWith("google.protobuf.")) return null;
  const fields: JsonField[] = [];
  const byKey = new Map<string, JsonField>();
  for (const field of [...schema.fields].sort((a, b) => a.number - b.number)) {
    // presence: 1 explicit, 2 implicit, 3 legacy required (protobuf-es's own error when unset).
    if (field.fieldKind !== "scalar" || field.oneof !== undefined || field.presence === 3) return null;
    const kind = KINDS.get(field.scalar);
    if (kind === undefined) return null;
    const plan: JsonField = { localName: field.localName, jsonName: field.jsonName, kind, explicit: field.presence !== 2 };
    fields.push(plan);
    byKey.set(field.name, plan).set(field.jsonName, plan);
  }
  return { fields, byKey };
}

/**
 * The message's JSON as connect writes it (toJsonString, then UTF-8), or undefined where toJsonString must decide:
 * not a flat message, or a value that is not its field's type (toJsonString refuses most of those).
 */
export function flatJsonBytes(schema: DescMessage, message: Message): Buffer | undefined {
  const plan = planOf(schema);
  if (plan === null) return undefined;
  const source = message as unknown as Record<string, unknown>;
  const json: Record<string, unknown> = {};
  for (const field of plan.fields) {
    const value = source[field.localName];
    // What toJson leaves out: an unset explicit field, an implicit one at its zero value.
    if (field.explicit ? value === undefined || !Object.hasOwn(source, field.localName) : value === "" || value === 0 || value === false) continue;
    if (!ofKind(field.kind, value)) return undefined;
    json[field.jsonName] = value;
  }
  return Buffer.from(JSON.stringify(json), "utf8");
}

/**
 * The request message as connect reads it (TextDecoder, then fromJsonString ignoring unknown keys), or undefined
 * where fromJsonString must decide. Taken here: an ASCII body holding one JSON object, each key used once, each
 * known field's value null or of its type and in range (unknown keys are ignored, as connect ignores them).
 */
export function flatFromJson(schema: DescMessage, bytes: Buffer): Message | undefined {
  const plan = planOf(schema);
  if (plan === null) return undefined;
  // `{}`, what Connect clients send for a request with nothing set (tessera's credentials go in a header).
  if (bytes.length === 2 && bytes[0] === 0x7b && bytes[1] === 0x7d) return create(schema) as Message;
  // ASCII decodes the same every way (no byte-order mark, nothing to replace), so latin1 is the TextDecoder's text.
  if (!isAscii(bytes)) return undefined;
  const text = bytes.toString("latin1");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) return undefined;
  const members = json as Record<string, unknown>;
  const keys = Object.keys(members);
  // A key repeated in the text, which JSON.parse kept once, at any depth: fromJsonString refuses it. The text has
  // one colon per member at every depth, so a count equal to the keys means no repeats (and no nested members).
  if (keys.length > 0 && memberCount(text) !== keys.length) return undefined;
  const message = create(schema) as unknown as Record<string, unknown>;
  const seen = keys.length > 1 ? new Set<JsonField>() : undefined;
  for (const key of keys) {
    const field = plan.byKey.get(key);
    // An unknown key is ignored, whatever its value.
    if (field === undefined) continue;
    // Its proto name and its JSON name both used: fromJsonString's "set multiple times".
    if (seen !== undefined) {
      if (seen.has(field)) return undefined;
      seen.add(field);
    }
    const value = members[key];
    // null leaves a field unset.
    if (value === null) continue;
    if (!ofKind(field.kind, value) || !settable(field.kind, value)) return undefined;
    // As protobuf-es sets a scalar: an own property, which also marks an explicit field present.
    message[field.localName] = value;
  }
  return message as unknown as Message;
}

function ofKind(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "bool":
      return typeof value === "boolean";
    default:
      return typeof value === "number";
  }
}

/** What protobuf-es's `set` accepts of a value of the right type: well-formed strings, 32-bit integers. */
function settable(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case "string":
      return !LONE_SURROGATE.test(value as string);
    case "bool":
      return true;
    case "int32":
      return Number.isInteger(value) && (value as number) >= -0x80000000 && (value as number) <= 0x7fffffff;
    case "uint32":
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffffffff;
  }
}

/** protobuf-es refuses a string that is not valid UTF-16 (its UTF-8 check): any surrogate here sends the body there. */
const LONE_SURROGATE = /[\ud800-\udfff]/;

/** The members of a JSON text that JSON.parse accepted, at every depth: its colons outside strings. */
function memberCount(text: string): number {
  let count = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x3a) count++;
  }
  return count;
}
