/**
 * HPACK (RFC 7541) for the gRPC port's own HTTP/2 layer (h2/connection.ts): a complete decoder for request header
 * blocks, and an encoder that never touches the dynamic table (every answer field is a literal "without indexing"
 * or "never indexed", with the static table's name index where it has one), so the peer's table size does not matter.
 */

/** A header block the decoder refuses: a connection error COMPRESSION_ERROR (RFC 9113 §4.3). */
export class HpackError extends Error {}

/**
 * The Huffman code's length in bits for each symbol 0..256 (RFC 7541 Appendix B), one letter each: A = 5 bits …
 * Z = 30. The code is canonical (codes of one length are consecutive, in symbol order, shorter codes first), so
 * the lengths define it.
 */
const HUFFMAN_LENGTHS =
  "ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHF" +
  "IBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIX" +
  "PRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRS" +
  "VVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWV" +
  "Z";

const EOS = 256;

/** The decoding tree: node n's children are ZERO[n] and ONE[n] (-1: none), SYMBOL[n] is its symbol at a leaf. */
const { ZERO, ONE, SYMBOL } = huffmanTree();

function huffmanTree() {
  const lengths = Array.from(HUFFMAN_LENGTHS, (c) => c.charCodeAt(0) - 65 + 5);
  const order = lengths.map((_, symbol) => symbol).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const zero: number[] = [-1];
  const one: number[] = [-1];
  const symbol: number[] = [-1];
  let code = 0n;
  let previous = lengths[order[0]!]!;
  order.forEach((s, i) => {
    const length = lengths[s]!;
    if (i > 0) {
      code = (code + 1n) << BigInt(length - previous);
      previous = length;
    }
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const branch = (code >> BigInt(bit)) & 1n ? one : zero;
      if (branch[node] === -1) {
        branch[node] = zero.length;
        zero.push(-1);
        one.push(-1);
        symbol.push(-1);
      }
      node = branch[node]!;
    }
    symbol[node] = s;
  });
  return { ZERO: Int32Array.from(zero), ONE: Int32Array.from(one), SYMBOL: Int16Array.from(symbol) };
}

/** Decodes a Huffman-coded string (as latin1 octets); refuses EOS, a code that is no symbol, and bad padding. */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number): string {
  let node = 0;
  let depth = 0;
  let allOnes = true;
  let out = "";
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      const one = (byte >> bit) & 1;
      node = one ? ONE[node]! : ZERO[node]!;
      if (node < 0) throw new HpackError("a Huffman code that is no symbol");
      depth++;
      if (!one) allOnes = false;
      const symbol = SYMBOL[node]!;
      if (symbol >= 0) {
        if (symbol === EOS) throw new HpackError("EOS in a Huffman-coded string");
        out += String.fromCharCode(symbol);
        node = 0;
        depth = 0;
        allOnes = true;
      }
    }
  }
  // Padding: at most 7 bits, the most significant bits of EOS (all ones).
  if (depth > 7 || !allOnes) throw new HpackError("bad Huffman padding");
  return out;
}

/** RFC 7541 Appendix A, index 1..61. */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [":authority", ""], [":method", "GET"], [":method", "POST"], [":path", "/"], [":path", "/index.html"],
  [":scheme", "http"], [":scheme", "https"], [":status", "200"], [":status", "204"], [":status", "206"],
  [":status", "304"], [":status", "400"], [":status", "404"], [":status", "500"], ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"], ["accept-language", ""], ["accept-ranges", ""], ["accept", ""],
  ["access-control-allow-origin", ""], ["age", ""], ["allow", ""], ["authorization", ""], ["cache-control", ""],
  ["content-disposition", ""], ["content-encoding", ""], ["content-language", ""], ["content-length", ""],
  ["content-location", ""], ["content-range", ""], ["content-type", ""], ["cookie", ""], ["date", ""], ["etag", ""],
  ["expect", ""], ["expires", ""], ["from", ""], ["host", ""], ["if-match", ""], ["if-modified-since", ""],
  ["if-none-match", ""], ["if-range", ""], ["if-unmodified-since", ""], ["last-modified", ""], ["link", ""],
  ["location", ""], ["max-forwards", ""], ["proxy-authenticate", ""], ["proxy-authorization", ""], ["range", ""],
  ["referer", ""], ["refresh", ""], ["retry-after", ""], ["server", ""], ["set-cookie", ""],
  ["strict-transport-security", ""], ["transfer-encoding", ""], ["user-agent", ""], ["vary", ""], ["via", ""],
  ["www-authenticate", ""],
];

const ENTRY_OVERHEAD = 32;

/** A decoded header block: names and values alternating, in order. */
export type HeaderList = string[];

/** One connection's decoder, with its dynamic table (RFC 7541 §2.3.2, §4). */
export class HpackDecoder {
  /** Newest first. */
  private readonly table: Array<readonly [string, string]> = [];
  private size = 0;
  private limit: number;

  /** `maxTableSize`: SETTINGS_HEADER_TABLE_SIZE as this end advertised it. */
  constructor(private readonly maxTableSize = 4096) {
    this.limit = maxTableSize;
  }

  /**
   * Decodes a whole header block. `maxListSize` bounds the decoded list (RFC 9113 §6.5.2's size: name + value + 32
   * per field): past it the block is still decoded (the table must stay in step with the peer's) but the result is
   * `undefined`. Throws HpackError for a block that breaks RFC 7541.
   */
  decode(block: Uint8Array, maxListSize: number): HeaderList | undefined {
    const out: HeaderList = [];
    let listSize = 0;
    let at = 0;
    const end = block.length;
    let fieldSeen = false;
    const integer = (prefixBits: number): number => {
      const mask = (1 << prefixBits) - 1;
      let value = block[at++]! & mask;
      if (value < mask) return value;
      let shift = 0;
      let byte: number;
      do {
        if (at >= end) throw new HpackError("a truncated integer");
        // Five continuation bytes carry 35 bits: past that (or past 2^31 - 1) no value here is meaningful.
        if (shift > 28) throw new HpackError("an integer too large");
        byte = block[at++]!;
        value += (byte & 127) * 2 ** shift;
        shift += 7;
        if (value > 0x7fffffff) throw new HpackError("an integer too large");
      } while (byte & 128);
      return value;
    };
    const string = (): string => {
      if (at >= end) throw new HpackError("a missing string");
      const huffman = block[at]! & 128;
      const length = integer(7);
      if (length > end - at) throw new HpackError("a truncated string");
      const s = huffman ? huffmanDecode(block, at, at + length) : Buffer.from(block.buffer, block.byteOffset + at, length).toString("latin1");
      at += length;
      return s;
    };
    const emit = (name: string, value: string) => {
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize <= maxListSize) out.push(name, value);
    };
    while (at < end) {
      const first = block[at]!;
      if (first & 0x80) {
        // Indexed field (§6.1).
        const [name, value] = this.entry(integer(7));
        emit(name, value);
        fieldSeen = true;
      } else if (first & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const index = integer(6);
        const name = index === 0 ? string() : this.entry(index)[0];
        const value = string();
        this.insert(name, value);
        emit(name, value);
        fieldSeen = true;
      } else if (first & 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block, never above the advertised maximum.
        if (fieldSeen) throw new HpackError("a table size update after a field");
        const size = integer(5);
        if (size > this.maxTableSize) throw new HpackError("a table size over the advertised maximum");
        this.limit = size;
        this.evict();
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3).
        const index = integer(4);
        const name = index === 0 ? string() : this.entry(index)[0];
        emit(name, string());
        fieldSeen = true;
      }
    }
    return listSize <= maxListSize ? out : undefined;
  }

  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError("index 0");
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const entry = this.table[index - STATIC_TABLE.length - 1];
    if (entry === undefined) throw new HpackError("an index past the table");
    return entry;
  }

  private insert(name: string, value: string): void {
    this.table.unshift([name, value]);
    this.size += name.length + value.length + ENTRY_OVERHEAD;
    this.evict();
  }

  private evict(): void {
    while (this.size > this.limit) {
      const [name, value] = this.table.pop()!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
    }
  }
}

/** Static-table index of each name (its first entry). */
const STATIC_NAME = new Map<string, number>();
/** Static-table index of each full field that has one (`:status: 200` is 8). */
const STATIC_FIELD = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
  if (value !== "") STATIC_FIELD.set(`${name}\0${value}`, i + 1);
});

function pushInteger(out: number[], value: number, prefixBits: number, pattern: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(pattern | value);
    return;
  }
  out.push(pattern | mask);
  value -= mask;
  while (value >= 128) {
    out.push((value & 127) | 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function pushString(out: number[], s: string): void {
  pushInteger(out, s.length, 7, 0);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
}

/** The bytes of one field: its static index if it has one, else a literal (never indexed if `sensitive`). */
function encodeField(name: string, value: string, sensitive: boolean): Buffer {
  const out: number[] = [];
  const full = sensitive ? undefined : STATIC_FIELD.get(`${name}\0${value}`);
  if (full !== undefined) {
    pushInteger(out, full, 7, 0x80);
  } else {
    const nameIndex = STATIC_NAME.get(name) ?? 0;
    pushInteger(out, nameIndex, 4, sensitive ? 0x10 : 0x00);
    if (nameIndex === 0) pushString(out, name);
    pushString(out, value);
  }
  return Buffer.from(out);
}

/** Fields seen often (`content-type: application/grpc+proto`, `grpc-status: 0`), encoded once. Bounded. */
const encoded = new Map<string, Buffer>();
const CACHED_FIELDS = 512;
const CACHED_LENGTH = 128;

/**
 * Encodes answer fields (`[name, value, name, value …]`, names lower case, values latin1) without touching the
 * dynamic table; `sensitive` names are sent never-indexed (RFC 7541 §7.1.3), as Node does for `sensitiveHeaders`.
 */
export function encodeHeaders(fields: readonly string[], sensitive?: ReadonlySet<string>): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (sensitive?.has(name)) {
      parts.push(encodeField(name, value, true));
      continue;
    }
    const key = `${name}\0${value}`;
    let bytes = encoded.get(key);
    if (bytes === undefined) {
      bytes = encodeField(name, value, false);
      if (encoded.size < CACHED_FIELDS && key.length <= CACHED_LENGTH) encoded.set(key, bytes);
    }
    parts.push(bytes);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
