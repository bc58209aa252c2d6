import { createHash, hash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import type { SigningAlgorithm } from "../config.js";
import { invalidToken } from "../domain/errors.js";
import type { Storage } from "../domain/ports.js";
import type { SigningKeyRecord } from "../domain/records.js";
import { seconds, type Clock } from "./clock.js";
import type { Secrets } from "./secrets.js";

export interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  y?: string;
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

  /** Loads the stored keys; generates the first key when there is none that signs. */
  async load(): Promise<void> {
    await this.reload();
    const now = seconds(this.clock);
    if (this.keys.every((k) => k.record.retireTime !== undefined && k.record.retireTime <= now)) {
      await this.storage.signingKeys.insert(this.generate(this.algorithm, now, now));
      await this.reload();
    }
  }

  /**
   * Creates the next key, published now and signing after `announceSeconds`; the current
   * signer retires when it activates and stays published for RETIRED_KEY_PUBLISH_SECONDS.
   */
  async rotate(algorithm: SigningAlgorithm = this.algorithm, announceSeconds = 0): Promise<SigningKeyRecord> {
    const now = seconds(this.clock);
    const next = this.generate(algorithm, now, now + announceSeconds);
    await this.storage.transaction(async (tx) => {
      for (const k of await tx.signingKeys.list()) {
        if (k.retireTime === undefined) await tx.signingKeys.retire(k.kid, next.activateTime, next.activateTime + RETIRED_KEY_PUBLISH_SECONDS);
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
    if (read === this.reads) this.keys = records.map((r) => this.decode(r));
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

  /** The key that signs now: the latest activated one that has not retired. */
  private signer(now: number): LoadedKey {
    const key = this.keys.find((k) => k.record.activateTime <= now && (k.record.retireTime === undefined || k.record.retireTime > now));
    if (key === undefined) throw new Error("no active signing key");
    return key;
  }

  get activeAlgorithm(): SigningAlgorithm {
    return this.signer(seconds(this.clock)).alg;
  }

  hasActiveKey(): boolean {
    try {
      this.signer(seconds(this.clock));
      return true;
    } catch {
      return false;
    }
  }

  /** Signs a JWT with the active key. `typ` is `at+jwt` for access tokens (RFC 9068), `JWT` otherwise. */
  sign(payload: Record<string, unknown>, typ: string): { jwt: string; alg: SigningAlgorithm } {
    const key = this.signer(seconds(this.clock));
    let header = key.headers.get(typ);
    if (header === undefined) {
      header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.jwk.kid, typ })).toString("base64url");
      key.headers.set(typ, header);
    }
    const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
    const signature = sign(key.alg === "EdDSA" ? null : "sha256", Buffer.from(input), {
      key: key.privateKey,
      dsaEncoding: "ieee-p1363",
    });
    return { jwt: `${input}.${signature.toString("base64url")}`, alg: key.alg };
  }

  /** Verifies signature and the JOSE header of a JWT tessera signed; returns header and payload (claims unchecked). */
  verifySignature(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
    const parts = jwt.split(".");
    if (parts.length !== 3) throw invalidToken("malformed token");
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
      payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
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
      Buffer.from(parts[2]!, "base64url"),
    );
    if (!ok) throw invalidToken("invalid token signature");
    return { header, payload };
  }

  private generate(alg: SigningAlgorithm, now: number, activateTime: number): SigningKeyRecord {
    const { privateKey, publicKey } =
      alg === "EdDSA" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" }) as { kty: string; crv: string; x: string; y?: string };
    const kid = thumbprint(jwk);
    const publicJwk: PublicJwk = { ...jwk, kid, alg, use: "sig" };
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

/** RFC 7638 JWK thumbprint, base64url: a stable kid. */
function thumbprint(jwk: { kty: string; crv: string; x: string; y?: string }): string {
  const members = jwk.kty === "EC" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

/** OIDC at_hash/c_hash: left half of the hash that matches the signing algorithm (SHA-512 for Ed25519). */
export function halfHash(alg: SigningAlgorithm, value: string): string {
  const digest = hash(alg === "EdDSA" ? "sha512" : "sha256", value, "buffer");
  return digest.subarray(0, digest.length / 2).toString("base64url");
}
