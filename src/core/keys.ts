import { createHash, hash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { CLOCK_TOLERANCE_S, type SigningAlgorithm } from "../config.js";
import { invalidToken, OAuthError } from "../domain/errors.js";
import type { Storage } from "../domain/ports.js";
import type { SigningKeyRecord } from "../domain/records.js";
import { seconds, type Clock } from "./clock.js";
import type { Secrets } from "./secrets.js";

export interface PublicJwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  kid: string;
  alg: SigningAlgorithm;
  use: "sig";
}

export type KeyState = "pending" | "active" | "retired";

interface LoadedKey {
  record: SigningKeyRecord;
  alg: SigningAlgorithm;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: PublicJwk;
  /** Pre-encoded JOSE headers by `typ`. */
  headers: Map<string, string>;
}

/** Seconds a retired key stays published: the longest token lifetime tessera can issue, plus margin. */
export const RETIRED_KEY_PUBLISH_SECONDS = 86400 + 300;

/** RSA modulus for RS256 keys (RFC 7518 §3.3: 2048 bits or larger). */
export const RSA_MODULUS_BITS = 2048;

/**
 * The signing keys: generates, encrypts at rest, signs JWTs with node:crypto directly,
 * publishes the JWKS and verifies tessera's own tokens.
 */
export class KeyRing {
  private keys: LoadedKey[] = [];
  /** Numbers the reads of the stored keys, so an older read finishing late never replaces a newer one. */
  private reads = 0;

  constructor(
    private readonly storage: Storage,
    private readonly secrets: Secrets,
    private readonly clock: Clock,
    private readonly algorithm: SigningAlgorithm,
  ) {}

  /**
   * Loads the stored keys and makes sure every algorithm in use has a key. On an empty store the
   * first key signs at once; a data dir whose keys are of another algorithm (an upgrade that changed
   * the default) gets a default key that signs after `announceSeconds`, and until then the old key signs.
   */
  async load(inUse: Iterable<SigningAlgorithm> = [], announceSeconds = 0): Promise<void> {
    await this.reload();
    const now = seconds(this.clock);
    if (!this.keys.some((k) => this.live(k, now))) {
      await this.storage.signingKeys.insert(this.generate(this.algorithm, now, now));
      await this.reload();
    } else if (!this.keys.some((k) => k.alg === this.algorithm && this.live(k, now))) {
      await this.rotate(this.algorithm, announceSeconds, new Set(inUse));
    }
    for (const alg of inUse) await this.ensure(alg);
  }

  /**
   * Gives `alg` a key if it has none that signs or will: a client or resource just named it.
   * The key signs at once (no verifier can expect this algorithm yet); RSA generation is slow,
   * so callers run this outside transactions.
   */
  async ensure(alg: SigningAlgorithm): Promise<void> {
    const now = seconds(this.clock);
    if (this.keys.some((k) => k.alg === alg && this.live(k, now))) return;
    await this.storage.signingKeys.insert(this.generate(alg, now, now));
    await this.reload();
  }

  /**
   * Creates the next key of `algorithm`, published now and signing after `announceSeconds`. The
   * current key of that algorithm retires when the new one activates and stays published for
   * RETIRED_KEY_PUBLISH_SECONDS; so do keys of algorithms no longer in use when the default changes.
   */
  async rotate(algorithm: SigningAlgorithm = this.algorithm, announceSeconds = 0, inUse?: ReadonlySet<SigningAlgorithm>): Promise<SigningKeyRecord> {
    const now = seconds(this.clock);
    const next = this.generate(algorithm, now, now + announceSeconds);
    const retires = (k: SigningKeyRecord) =>
      k.retireTime === undefined &&
      (k.algorithm === algorithm || (inUse !== undefined && algorithm === this.algorithm && !inUse.has(k.algorithm as SigningAlgorithm)));
    await this.storage.transaction(async (tx) => {
      for (const k of await tx.signingKeys.list()) {
        if (retires(k)) await tx.signingKeys.retire(k.kid, next.activateTime, next.activateTime + RETIRED_KEY_PUBLISH_SECONDS);
      }
      await tx.signingKeys.insert(next);
    });
    await this.reload();
    return next;
  }

  /** Re-reads the stored keys (another process, such as `tessera keys rotate`, changed them). */
  async reload(): Promise<void> {
    const read = ++this.reads;
    const records = await this.storage.signingKeys.list();
    if (read !== this.reads) return;
    const loaded = new Map(this.keys.map((k) => [k.record.kid, k]));
    // Decoding (and importing an RSA key) once per key: a reload keeps the KeyObjects it already has.
    this.keys = records.map((r) => {
      const known = loaded.get(r.kid);
      return known === undefined ? this.decode(r) : Object.assign({}, known, { record: r });
    });
  }

  /** Signs now or will: not retired yet. */
  private live(k: LoadedKey, now: number): boolean {
    return k.record.retireTime === undefined || k.record.retireTime > now;
  }

  /** Drops keys whose publication ended; returns how many. */
  async purgeExpired(): Promise<number> {
    const removed = await this.storage.signingKeys.purgeExpired(seconds(this.clock));
    if (removed > 0) await this.reload();
    return removed;
  }

  state(record: SigningKeyRecord, now = seconds(this.clock)): KeyState {
    if (record.activateTime > now) return "pending";
    if (record.retireTime !== undefined && record.retireTime <= now) return "retired";
    return "active";
  }

  list(): SigningKeyRecord[] {
    return this.keys.map((k) => k.record);
  }

  /** Keys in the JWKS: pending, active and retired until their publication ends. */
  jwks(): PublicJwk[] {
    const now = seconds(this.clock);
    return this.keys.filter((k) => k.record.expireTime === undefined || k.record.expireTime > now).map((k) => k.jwk);
  }

  /**
   * The key that signs `alg` now: its latest activated, unretired key. Before the default
   * algorithm's first key activates (an upgrade that changed it), the retiring key of the old
   * default signs; an algorithm whose only key is still announced signs with that key.
   */
  private signer(alg: SigningAlgorithm, now: number): LoadedKey {
    const key = this.find(alg, now);
    if (key !== undefined) return key;
    // `ready` was not awaited for this algorithm (signing itself stays synchronous).
    this.ensure(alg).catch(() => undefined);
    throw new OAuthError("unavailable", `no ${alg} signing key is loaded yet; retry shortly`);
  }

  private find(alg: SigningAlgorithm, now: number): LoadedKey | undefined {
    const active = (k: LoadedKey) => k.record.activateTime <= now && this.live(k, now);
    return (
      this.keys.find((k) => k.alg === alg && active(k)) ??
      (alg === this.algorithm ? this.keys.find((k) => active(k) && k.record.retireTime !== undefined) : undefined) ??
      this.keys.findLast((k) => k.alg === alg && this.live(k, now))
    );
  }

  /**
   * Makes sure each algorithm (undefined: the default) has a key to sign with before a request signs:
   * undefined at once when all have, else a promise of the keys generated (another process named an
   * algorithm in a client or resource after this one loaded its keys). Call outside transactions.
   */
  ready(first: SigningAlgorithm | undefined, second?: SigningAlgorithm): Promise<void> | undefined {
    if (first === undefined && second === undefined) return undefined;
    const now = seconds(this.clock);
    const missing = (alg: SigningAlgorithm | undefined) => alg !== undefined && this.find(alg, now) === undefined;
    if (!missing(first) && !missing(second)) return undefined;
    return (async () => {
      if (missing(first)) await this.ensure(first!);
      if (missing(second)) await this.ensure(second!);
    })();
  }

  /** The algorithm of the key that signs `alg` (the default when undefined) now. */
  signingAlgorithm(alg: SigningAlgorithm = this.algorithm): SigningAlgorithm {
    return this.signer(alg, seconds(this.clock)).alg;
  }

  /** The default algorithm (TESSERA_SIGNING_ALG). */
  get defaultAlgorithm(): SigningAlgorithm {
    return this.algorithm;
  }

  hasActiveKey(): boolean {
    const now = seconds(this.clock);
    return this.keys.some((k) => k.record.activateTime <= now && this.live(k, now));
  }

  /**
   * Signs a JWT with the key that signs `alg` now (the default algorithm when undefined).
   * `typ` is `at+jwt` for access tokens (RFC 9068), `JWT` otherwise.
   */
  sign(payload: Record<string, unknown>, typ: string, alg: SigningAlgorithm = this.algorithm): { jwt: string; alg: SigningAlgorithm } {
    const key = this.signer(alg, seconds(this.clock));
    let header = key.headers.get(typ);
    if (header === undefined) {
      header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.jwk.kid, typ })).toString("base64url");
      key.headers.set(typ, header);
    }
    const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
    // The signing input is base64url text, so its latin1 bytes are its UTF-8 bytes (and cheaper to encode).
    const signature = sign(key.alg === "EdDSA" ? null : "sha256", Buffer.from(input, "latin1"), {
      key: key.privateKey,
      dsaEncoding: "ieee-p1363",
    });
    return { jwt: `${input}.${signature.toString("base64url")}`, alg: key.alg };
  }

  /**
   * Verifies signature and the JOSE header of a JWT tessera signed, with strictly canonical
   * base64url parts, and `nbf` when present; returns header and payload (other claims unchecked).
   */
  verifySignature(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
    const parts = jwt.split(".");
    if (parts.length !== 3) throw invalidToken("malformed token");
    const [encodedHeader, encodedPayload, encodedSignature] = parts.map(base64urlStrict) as [Buffer, Buffer, Buffer];
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = JSON.parse(encodedHeader.toString("utf8")) as Record<string, unknown>;
      payload = JSON.parse(encodedPayload.toString("utf8")) as Record<string, unknown>;
    } catch {
      throw invalidToken("malformed token");
    }
    const isObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
    if (!isObject(header) || !isObject(payload)) throw invalidToken("malformed token");
    const now = seconds(this.clock);
    const key = this.keys.find((k) => k.jwk.kid === header.kid && (k.record.expireTime === undefined || k.record.expireTime > now));
    if (key === undefined || header.alg !== key.alg) throw invalidToken("token not signed by a current tessera key");
    const ok = verify(
      key.alg === "EdDSA" ? null : "sha256",
      Buffer.from(`${parts[0]}.${parts[1]}`),
      { key: key.publicKey, dsaEncoding: "ieee-p1363" },
      encodedSignature,
    );
    if (!ok) throw invalidToken("invalid token signature");
    if (payload.nbf !== undefined && (typeof payload.nbf !== "number" || payload.nbf - CLOCK_TOLERANCE_S > now)) {
      throw invalidToken("token not valid yet");
    }
    return { header, payload };
  }

  private generate(alg: SigningAlgorithm, now: number, activateTime: number): SigningKeyRecord {
    const { privateKey, publicKey } =
      alg === "EdDSA"
        ? generateKeyPairSync("ed25519")
        : alg === "RS256"
          ? generateKeyPairSync("rsa", { modulusLength: RSA_MODULUS_BITS })
          : generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" }) as Record<string, string>;
    const kid = thumbprint(jwk);
    const publicJwk: PublicJwk = { ...(jwk as { kty: string }), kid, alg, use: "sig" };
    return {
      kid,
      algorithm: alg,
      publicJwk: JSON.stringify(publicJwk),
      privateKey: this.secrets.encrypt(privateKey.export({ format: "der", type: "pkcs8" })),
      createTime: now,
      activateTime,
      retireTime: undefined,
      expireTime: undefined,
    };
  }

  private decode(record: SigningKeyRecord): LoadedKey {
    const privateKey = createPrivateKey({ key: this.secrets.decrypt(record.privateKey), format: "der", type: "pkcs8" });
    return {
      record,
      alg: record.algorithm as SigningAlgorithm,
      privateKey,
      publicKey: createPublicKey(privateKey),
      jwk: JSON.parse(record.publicJwk) as PublicJwk,
      headers: new Map(),
    };
  }
}

/**
 * Decodes one JWS part, refusing what Buffer would silently accept: characters outside the
 * base64url alphabet, padding, and non-zero unused bits (RFC 7515 §2 and §C).
 */
function base64urlStrict(part: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(part) || part.length % 4 === 1) throw invalidToken("malformed token");
  const bytes = Buffer.from(part, "base64url");
  if (bytes.toString("base64url") !== part) throw invalidToken("malformed token");
  return bytes;
}

/** RFC 7638 JWK thumbprint, base64url: a stable kid. The required members, in lexicographic order. */
function thumbprint(jwk: Record<string, string>): string {
  const required = jwk.kty === "EC" ? ["crv", "kty", "x", "y"] : jwk.kty === "RSA" ? ["e", "kty", "n"] : ["crv", "kty", "x"];
  const members = Object.fromEntries(required.map((name) => [name, jwk[name]]));
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

/** OIDC at_hash/c_hash: left half of the hash that matches the signing algorithm (SHA-512 for Ed25519). */
export function halfHash(alg: SigningAlgorithm, value: string): string {
  const digest = hash(alg === "EdDSA" ? "sha512" : "sha256", value, "buffer");
  return digest.subarray(0, digest.length / 2).toString("base64url");
}
