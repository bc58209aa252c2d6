import type { SigningKeyRecord } from "../../domain/records.js";
import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";
import { toSigningKeyRecord, type SigningKeyRow } from "../rows.js";

export class SigningKeyRepository implements Sync<ports.SigningKeyRepository> {
  private readonly insertStmt;
  private readonly retireStmt;
  private readonly listStmt;
  private readonly purgeStmt;
  private readonly namedStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO signing_keys (kid, algorithm, public_jwk, private_key, create_time, activate_time)
       VALUES (@kid, @algorithm, @public_jwk, @private_key, @create_time, @activate_time)`,
    );
    this.retireStmt = db.prepare<[number, number, string]>(
      "UPDATE signing_keys SET retire_time = ?, expire_time = ? WHERE kid = ? AND retire_time IS NULL",
    );
    this.listStmt = db.prepare<[], SigningKeyRow>("SELECT * FROM signing_keys ORDER BY activate_time DESC, create_time DESC, kid");
    this.purgeStmt = db.prepare<[number]>("DELETE FROM signing_keys WHERE expire_time IS NOT NULL AND expire_time <= ?");
    this.namedStmt = db
      .prepare<[], string>(
        `SELECT signing_alg FROM resources WHERE signing_alg IS NOT NULL
         UNION SELECT id_token_signed_response_alg FROM clients WHERE id_token_signed_response_alg IS NOT NULL`,
      )
      .pluck();
  }

  insert(k: SigningKeyRecord): void {
    this.insertStmt.run({
      kid: k.kid,
      algorithm: k.algorithm,
      public_jwk: k.publicJwk,
      private_key: k.privateKey,
      create_time: k.createTime,
      activate_time: k.activateTime,
    });
  }
  retire(kid: string, retireTime: number, expireTime: number): void {
    this.retireStmt.run(retireTime, expireTime, kid);
  }
  /** Every stored key, the latest to activate first. */
  list(): SigningKeyRecord[] {
    return this.listStmt.all().map(toSigningKeyRecord);
  }
  /** Algorithms some resource (`signing_alg`) or client (`id_token_signed_response_alg`) names. */
  algorithmsNamed(): string[] {
    return this.namedStmt.all();
  }
  purgeExpired(now: number): number {
    return this.purgeStmt.run(now).changes;
  }
}
