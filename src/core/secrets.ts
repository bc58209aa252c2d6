import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** What a keyed hash or MAC is for; each purpose gets its own derived key. */
export type SecretPurpose =
  | "client-secret"
  | "refresh-token"
  | "refresh-successor"
  | "session"
  | "authorization-code"
  | "page-token"
  | "csrf"
  | "key-check";

export const SECRET_KEY_FILE = "secret.key";

/**
 * Key material derived from the master key (TESSERA_SECRET_KEY or <data dir>/secret.key):
 * keyed hashes for stored secrets and AES-256-GCM for signing keys at rest.
 */
export class Secrets {
  private readonly macKeys = new Map<SecretPurpose, Buffer>();
  private readonly encryptionKey: Buffer;

  constructor(master: Buffer) {
    const derive = (info: string) => Buffer.from(hkdfSync("sha256", master, "tessera", info, 32));
    this.encryptionKey = derive("signing-key-encryption");
    for (const purpose of [
      "client-secret",
      "refresh-token",
      "refresh-successor",
      "session",
      "authorization-code",
      "page-token",
      "csrf",
      "key-check",
    ] as const) {
      this.macKeys.set(purpose, derive(`mac:${purpose}`));
    }
  }

  /** HMAC-SHA256 of `value` under the purpose's key: what tessera stores instead of a secret. */
  hash(purpose: SecretPurpose, value: string | Buffer): Buffer {
    return createHmac("sha256", this.macKeys.get(purpose)!).update(value).digest();
  }

  /** Constant-time check of a presented secret against a stored keyed hash. */
  matches(purpose: SecretPurpose, presented: string, stored: Buffer | undefined): boolean {
    const candidate = this.hash(purpose, presented);
    // Compare even when nothing is stored, so unknown and wrong take the same path.
    const against = stored !== undefined && stored.length === candidate.length ? stored : Buffer.alloc(candidate.length);
    return timingSafeEqual(candidate, against) && stored !== undefined;
  }

  encrypt(plain: Buffer): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.encryptionKey, iv);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([Buffer.from([1]), iv, cipher.getAuthTag(), body]);
  }

  decrypt(box: Buffer): Buffer {
    if (box[0] !== 1) throw new Error("unknown encrypted key format");
    const decipher = createDecipheriv("aes-256-gcm", this.encryptionKey, box.subarray(1, 13));
    decipher.setAuthTag(box.subarray(13, 29));
    return Buffer.concat([decipher.update(box.subarray(29)), decipher.final()]);
  }

  /** A value stored in the database to detect a master key that changed under it. */
  checkValue(): string {
    return this.hash("key-check", "tessera").toString("base64url");
  }
}

/** Master key bytes from the configured value, or from (or into) `<dataDir>/secret.key`. */
export function loadMasterKey(dataDir: string, configured: string | undefined): Buffer {
  if (configured !== undefined) return Buffer.from(configured, "utf8");
  const path = join(dataDir, SECRET_KEY_FILE);
  if (existsSync(path)) return Buffer.from(readFileSync(path, "utf8").trim(), "base64");
  const key = randomBytes(32);
  writeFileSync(path, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return key;
}
