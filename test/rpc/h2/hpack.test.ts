import { describe, expect, it } from "vitest";
import { encodeHeaders, HpackDecoder, HpackError, huffmanDecode, STATIC_TABLE } from "../../../src/transport/rpc/h2/hpack.js";

// HPACK (RFC 7541) for the gRPC port's own HTTP/2 layer: the RFC's examples, another implementation's output, and
// every way a header block can break the RFC.

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ""), "hex");
const pairs = (list: string[] | undefined) => {
  const out: Array<[string, string]> = [];
  for (let i = 0; list !== undefined && i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
};
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

const requests: Array<[string, string]> = [
  [":method", "GET"],
  [":scheme", "http"],
  [":path", "/"],
  [":authority", "www.example.com"],
];
const second = [...requests, ["cache-control", "no-cache"]] as Array<[string, string]>;
const third: Array<[string, string]> = [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]];

const date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const responses: Array<Array<[string, string]>> = [
  [[":status", "302"], ["cache-control", "private"], ["date", date1], ["location", "https://www.example.com"]],
  [[":status", "307"], ["cache-control", "private"], ["date", date1], ["location", "https://www.example.com"]],
  [[":status", "200"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:22 GMT"], ["location", "https://www.example.com"], ["content-encoding", "gzip"], ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"]],
];

describe("HPACK decoder", () => {
  it("decodes RFC 7541 C.3: requests without Huffman coding, sharing one dynamic table", () => {
    const d = new HpackDecoder();
    expect(pairs(d.decode(hex("828684410f7777772e6578616d706c652e636f6d"), NO_LIMIT))).toEqual(requests);
    expect(pairs(d.decode(hex("828684be58086e6f2d6361636865"), NO_LIMIT))).toEqual(second);
    expect(pairs(d.decode(hex("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"), NO_LIMIT))).toEqual(third);
  });

  it("decodes RFC 7541 C.4: the same requests Huffman-coded", () => {
    const d = new HpackDecoder();
    expect(pairs(d.decode(hex("828684418cf1e3c2e5f23a6ba0ab90f4ff"), NO_LIMIT))).toEqual(requests);
    expect(pairs(d.decode(hex("828684be5886a8eb10649cbf"), NO_LIMIT))).toEqual(second);
    expect(pairs(d.decode(hex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"), NO_LIMIT))).toEqual(third);
    // The second request found the first's :authority in the table (index 62, 0xbe): a decoder that forgot it fails.
    expect(() => new HpackDecoder().decode(hex("828684be5886a8eb10649cbf"), NO_LIMIT)).toThrow(HpackError);
  });

  // Python's hpack 4.0 (Debian python3-hpack) encoding the RFC's C.5 / C.6 responses with a 256-byte table: the
  // third response evicts entries the first two added; each block starts with a table size update to 256.
  it.each([
    ["plain (C.5)", ["3fe1014803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d", "4803333037c1c0bf", "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31"]],
    ["Huffman-coded (C.6)", ["3fe101488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3", "4883640effc1c0bf", "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007"]],
  ])("decodes responses through a 256-byte table with evictions, %s", (_, blocks) => {
    const d = new HpackDecoder(4096);
    blocks.forEach((block, i) => expect(pairs(d.decode(hex(block), NO_LIMIT))).toEqual(responses[i]));
  });

  it("decodes every octet's Huffman code (RFC 7541 Appendix B), 0 to 255, as another implementation wrote them", () => {
    const all =
      "ffc7fffd8fffffe2fffffe3fffffe4fffffe5fffffe6fffffe7fffffe8ffffeafffffff3fffffa7fffffabffffffdfffffebfffffecfffffedfffffeefffffefffffff0ffffff1ffffff2fffffffbfffffcffffffd3fffffd7fffffdbfffffdffffffe3fffffe7fffffebfffffed4fe3f9ffaffcabf1febfafefe7fdfd2cbb00089969b71d79fb9f7fff20ffbff3ff50ddbd7f061c58f265cd9f469d5af66dddbf871e5f9cff7ff7fffc3ff9ffe45fff4719242cb34e6e9d68a6a3d7dac426defe3cfaf7fffbfe7ffbffdffffffcfffe6ffff4bfff9ffffa3fffd3ffff53fffd5ffffb3fffeb7fffdaffffb7ffff73fffeeffffdeffffebffffbfffffd9ffffdbfffebffffe0ffffeeffffc3ffff8bffff1ffffe4fffee7fffb1ffff97fffd9ffffcdffff9fffffbffffdafffeeffff4ffffb7fffee7fffe8ffffd3fffdeffffd5fffeeffffbdffffe1fffdfffff7fffff5ffffecffff07fff87fffe0ffff17fffedffff87ffff77fffeffffeaffff8bfffe3ffff93ffff87fffcbffff37ffff1fffff83ffffe1fffebfffe3ffff3fffff2ffffa3ffffd9fffff17ffffc7fffff27ffffdefffffbffffff2fffff8fffffb7fff97fff8fffffe6fffffc1fffff87ffffe7fffffc5ffffe5fffe4ffff2fffffd1fffff4ffffffefffffe3fffffc9fffff97fffb3ffffcffffb7fffcdffff4ffff9ffffd1ffffcffffeaffffafffffddffffeffffff4fffff5fffffabffffa7ffffd7fffff9bffffecfffffb7fffff3fffffe8fffffd3fffffabfffff5fffffff7ffffecfffffdbfffffbbfffff7ffffff0fffffbbf";
    const bytes = hex(all);
    const decoded = huffmanDecode(bytes, 0, bytes.length);
    expect(Buffer.from(decoded, "latin1")).toEqual(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
  });

  it.each([
    ["EOS inside a string", "3fffffff"],
    ["padding longer than 7 bits", "1fff"], // '0' (00000) then 11 one-bits
    ["padding that is not EOS's prefix", "00"], // '0' then three zero bits
  ])("refuses a Huffman string with %s", (_, bytes) => {
    const b = hex(bytes);
    expect(() => huffmanDecode(b, 0, b.length)).toThrow(HpackError);
  });

  it.each([
    ["index 0", "80"],
    ["an index past the table", "be"],
    ["a truncated integer", "ff"],
    ["an integer too large", "ffffffffff0f"],
    // Zero-valued continuation bytes never make the value large, but 2^(7n) overflows to Infinity, and 0 × Infinity
    // is NaN, which no comparison refuses: a table size update of NaN would have turned eviction off.
    ["an integer with 150 continuation bytes", `3f${"80".repeat(150)}00`],
    ["an integer with 6 continuation bytes", "3f808080808000"],
    ["a truncated string", "0003616263"],
    ["a string length past the block", "000a61"],
    ["a table size update after a field", "823f00"],
    ["a table size over the advertised maximum", "3fe21f"], // 4097,
    ["a missing value", "0001"],
  ])("refuses a block with %s", (_, bytes) => {
    expect(() => new HpackDecoder().decode(hex(bytes), NO_LIMIT)).toThrow(HpackError);
  });

  it("evicts to a smaller table size update, and keeps the table in step past the list-size limit", () => {
    const d = new HpackDecoder();
    // Adds custom-key: custom-value (index 62), then shrinks the table to 0: the entry is gone.
    expect(pairs(d.decode(hex("400a637573746f6d2d6b65790c637573746f6d2d76616c7565"), NO_LIMIT))).toEqual([["custom-key", "custom-value"]]);
    expect(pairs(d.decode(hex("be"), NO_LIMIT))).toEqual([["custom-key", "custom-value"]]);
    expect(() => d.decode(hex("20be"), NO_LIMIT)).toThrow(HpackError);

    // Over the list limit: no list, but the entry it added is in the table for the next block.
    const e = new HpackDecoder();
    expect(e.decode(hex("400a637573746f6d2d6b65790c637573746f6d2d76616c7565"), 40)).toBeUndefined();
    expect(pairs(e.decode(hex("be"), NO_LIMIT))).toEqual([["custom-key", "custom-value"]]);
  });
});

describe("HPACK encoder", () => {
  it("writes static entries as one byte, other fields as literals the decoder reads back, and never indexes", () => {
    const fields = [":status", "200", "content-type", "application/grpc+proto", "grpc-status", "0", "x-long", "v".repeat(300), "date", "Thu, 03 Dec 2026 13:45:33 GMT"];
    const block = encodeHeaders(fields);
    expect(block[0]).toBe(0x88); // :status 200
    expect(block[1]).toBe(0x0f); // literal without indexing, name index 31 (content-type): 0000 1111 then 16
    expect(block[2]).toBe(31 - 15);
    const d = new HpackDecoder();
    expect(d.decode(block, NO_LIMIT)).toEqual(fields);
    // Nothing went into the table: a second block that refers to index 62 is refused.
    expect(() => d.decode(hex("be"), NO_LIMIT)).toThrow(HpackError);
  });

  it("sends a sensitive field never-indexed (0001 pattern), with its name's static index when it has one", () => {
    const block = encodeHeaders(["x-request-id", "r1", "authorization", "secret"], new Set(["x-request-id", "authorization"]));
    expect(block[0]).toBe(0x10); // never indexed, new name
    const at = 1 + 1 + "x-request-id".length + 1 + 2;
    expect(block[at]).toBe(0x1f); // never indexed, name index 23 (authorization): 0001 1111 then 8
    expect(block[at + 1]).toBe(23 - 15);
    expect(new HpackDecoder().decode(block, NO_LIMIT)).toEqual(["x-request-id", "r1", "authorization", "secret"]);
  });

  it("has the RFC's 61 static entries", () => {
    expect(STATIC_TABLE).toHaveLength(61);
    expect(STATIC_TABLE[7]).toEqual([":status", "200"]);
    expect(STATIC_TABLE[60]).toEqual(["www-authenticate", ""]);
  });
});
