import type * as ports from "../../domain/ports.js";
import type { SigningKeyRecord } from "../../domain/records.js";
import { stmt, type Exec } from "./exec.js";
import { toSigningKeyRecord, type SigningKeyRow } from "../rows.js";

const INSERT = stmt(
  "INSERT INTO signing_keys (kid, algorithm, public_jwk, private_key, create_time, activate_time) VALUES ($1, $2, $3, $4, $5, $6)",
);
const RETIRE = stmt("UPDATE signing_keys SET retire_time = $2, expire_time = $3 WHERE kid = $1 AND retire_time IS NULL");
const LIST = stmt(`SELECT * FROM signing_keys ORDER BY activate_time DESC, create_time DESC, kid COLLATE "C"`);
const NAMED = stmt(
  `SELECT signing_alg AS alg FROM resources WHERE signing_alg IS NOT NULL
   UNION SELECT id_token_signed_response_alg FROM clients WHERE id_token_signed_response_alg IS NOT NULL`,
);
const PURGE = stmt("DELETE FROM signing_keys WHERE expire_time IS NOT NULL AND expire_time <= $1");

export class SigningKeyRepository implements ports.SigningKeyRepository {
  constructor(private readonly db: Exec) {}

  async insert(k: SigningKeyRecord): Promise<void> {
    await this.db.query(INSERT, [k.kid, k.algorithm, k.publicJwk, k.privateKey, k.createTime, k.activateTime]);
  }
  async retire(kid: string, retireTime: number, expireTime: number): Promise<void> {
    await this.db.query(RETIRE, [kid, retireTime, expireTime]);
  }
  async list(): Promise<SigningKeyRecord[]> {
    return (await this.db.query<SigningKeyRow>(LIST)).rows.map(toSigningKeyRecord);
  }
  async algorithmsNamed(): Promise<string[]> {
    return (await this.db.query<{ alg: string }>(NAMED)).rows.map((r) => r.alg);
  }
  async purgeExpired(now: number): Promise<number> {
    return (await this.db.query(PURGE, [now])).rowCount ?? 0;
  }
}
