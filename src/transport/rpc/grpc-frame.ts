import { ScalarType, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";

/**
 * A response message as one gRPC frame (the 5-byte prefix, then the message), written in one buffer.
 *
 * Most of tessera's answers (every token response) are flat messages of strings, numbers and booleans. For those
 * the message is written straight into the frame: `toBinary` reflects on each field and builds the bytes in
 * chunks, 8–9 µs for a token response against 1.3–1.6 µs this way (docs/performance.md, fifth session).
 * Any other message, a value out of its type's range, or unknown fields take `toBinary`: the bytes are the same
 * either way (test/rpc/grpc-frame.test.ts compares them), and so is the error for a value `toBinary` refuses.
 */
export function grpcFrame(schema: DescMessage, message: Message): Buffer {
  let plan = plans.get(schema);
  if (plan === undefined) plans.set(schema, (plan = planFor(schema)));
  const frame = plan === null ? undefined : writeFlat(plan, message as unknown as Record<string, unknown>);
  if (frame !== undefined) return frame;
  const bytes = toBinary(schema, message);
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

type Kind = "string" | "bytes" | "bool" | "int32" | "uint32";

interface FieldPlan {
  name: string;
  kind: Kind;
  /** The field's tag (number and wire type) as varint bytes. */
  tag: number[];
  /** Set means present (proto2 `optional`, proto3 `optional`), not different from zero. */
  explicit: boolean;
  /** An enum's zero value (its first value); undefined for a number field, whose zero is 0. */
  zero: number | undefined;
}

const plans = new WeakMap<DescMessage, FieldPlan[] | null>();

/** The message's fields in number order (as toBinary writes them), or null if one is not a flat scalar. */
function planFor(schema: DescMessage): FieldPlan[] | null {
  const out: FieldPlan[] = [];
  for (const field of [...schema.fields].sort((a, b) => a.number - b.number)) {
    if (field.oneof !== undefined) return null;
    let kind: Kind;
    let zero: number | undefined;
    if (field.fieldKind === "enum") {
      kind = "int32";
      zero = field.enum.values[0]?.number ?? 0;
    } else if (field.fieldKind === "scalar") {
      const k = SCALAR_KINDS.get(field.scalar);
      if (k === undefined) return null;
      kind = k;
    } else {
      return null;
    }
    // presence: 1 explicit, 2 implicit, 3 legacy required (toBinary's own error when unset).
    if (field.presence === 3) return null;
    const wireType = kind === "string" || kind === "bytes" ? 2 : 0;
    out.push({ name: field.localName, kind, tag: varint((field.number << 3) | wireType), explicit: field.presence !== 2, zero });
  }
  return out;
}

const SCALAR_KINDS = new Map<ScalarType, Kind>([
  [ScalarType.STRING, "string"],
  [ScalarType.BYTES, "bytes"],
  [ScalarType.BOOL, "bool"],
  [ScalarType.INT32, "int32"],
  [ScalarType.UINT32, "uint32"],
]);

/** The frame, or undefined where toBinary must decide: a value it would refuse or write otherwise, unknown fields. */
function writeFlat(plan: FieldPlan[], message: Record<string, unknown>): Buffer | undefined {
  if ((message.$unknown as unknown[] | undefined)?.length) return undefined;
  const lengths: number[] = [];
  let size = 0;
  for (const field of plan) {
    const value = message[field.name];
    if (field.explicit ? value === undefined || !Object.hasOwn(message, field.name) : isZero(field, value)) {
      lengths.push(-1);
      continue;
    }
    let length: number;
    switch (field.kind) {
      case "string":
        if (typeof value !== "string") return undefined;
        length = Buffer.byteLength(value);
        size += varintLength(length) + length;
        break;
      case "bytes":
        if (!(value instanceof Uint8Array)) return undefined;
        length = value.byteLength;
        size += varintLength(length) + length;
        break;
      case "bool":
        if (typeof value !== "boolean") return undefined;
        length = 1;
        size += 1;
        break;
      default:
        // A negative int32 is ten bytes on the wire; it and any value out of range are left to toBinary.
        if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > (field.kind === "int32" ? 0x7fffffff : 0xffffffff)) return undefined;
        length = varintLength(value);
        size += length;
    }
    lengths.push(length);
    size += field.tag.length;
  }
  const out = Buffer.allocUnsafe(5 + size);
  out[0] = 0;
  out.writeUInt32BE(size, 1);
  let at = 5;
  for (let i = 0; i < plan.length; i++) {
    const length = lengths[i]!;
    if (length < 0) continue;
    const field = plan[i]!;
    const value = message[field.name];
    for (const byte of field.tag) out[at++] = byte;
    switch (field.kind) {
      case "string":
        at = writeVarint(out, at, length);
        at += out.write(value as string, at, length, "utf8");
        break;
      case "bytes":
        at = writeVarint(out, at, length);
        out.set(value as Uint8Array, at);
        at += length;
        break;
      case "bool":
        out[at++] = value ? 1 : 0;
        break;
      default:
        at = writeVarint(out, at, value as number);
    }
  }
  return out;
}

function isZero(field: FieldPlan, value: unknown): boolean {
  switch (field.kind) {
    case "string":
      return value === "";
    case "bytes":
      return value instanceof Uint8Array && value.byteLength === 0;
    case "bool":
      return value === false;
    default:
      // As toBinary: an enum is unset at its first value, a number at 0.
      return field.zero !== undefined ? value === field.zero : value == 0;
  }
}

function varintLength(n: number): number {
  let length = 1;
  while (n > 127) {
    n = Math.floor(n / 128);
    length += 1;
  }
  return length;
}

function writeVarint(out: Buffer | number[], at: number, n: number): number {
  while (n > 127) {
    out[at++] = (n & 127) | 128;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

function varint(n: number): number[] {
  const out: number[] = [];
  writeVarint(out, 0, n);
  return out;
}
