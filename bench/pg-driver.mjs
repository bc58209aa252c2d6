// Driver choice for the PostgreSQL adapter: `pg` (node-postgres) against `postgres` (Postgres.js) on the two
// hot paths, a single-row SELECT by primary key and the rotation transaction (conditional UPDATE … RETURNING
// plus the successor INSERT), sequentially and with 16 callers on a pool of 10. Starts its own PostgreSQL
// (scripts/embedded-postgres.mjs) unless BENCH_DATABASE_URL is set.
// tessera depends on `pg` only; to compare, `npm install --no-save postgres@3.4.9` first (skipped when absent).
// Usage: node bench/pg-driver.mjs [--seconds 3] [--rounds 2]
import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";
import { startPostgres } from "../scripts/embedded-postgres.mjs";

const { values: args } = parseArgs({ options: { seconds: { type: "string", default: "3" }, rounds: { type: "string", default: "2" } } });
const SECONDS = Number(args.seconds);
const postgres = await import("postgres").then((m) => m.default).catch(() => undefined);
const server = process.env.BENCH_DATABASE_URL ? undefined : await startPostgres();
const url = process.env.BENCH_DATABASE_URL ?? server.url;

const setup = new pg.Client(url);
await setup.connect();
await setup.query(`
  DROP TABLE IF EXISTS bench_tokens, bench_families;
  CREATE TABLE bench_families (id TEXT PRIMARY KEY, client_id TEXT NOT NULL, revoke_time BIGINT);
  CREATE TABLE bench_tokens (hash BYTEA PRIMARY KEY, family_id TEXT NOT NULL REFERENCES bench_families(id),
    generation INTEGER NOT NULL, expire_time BIGINT NOT NULL, consume_time BIGINT);
  INSERT INTO bench_families SELECT 'fam' || g, 'cli', NULL FROM generate_series(1, 20000) g;
  INSERT INTO bench_tokens SELECT sha256(('t' || g)::bytea), 'fam' || g, 1, 4102444800, NULL FROM generate_series(1, 20000) g;
  ANALYZE;`);
await setup.end();

const hashOf = (i) => createHash("sha256").update(`t${i}`).digest();
const newHash = () => randomBytes(32);
const SELECT = "SELECT hash, family_id, generation, expire_time, consume_time FROM bench_tokens WHERE hash = $1";
const CONSUME =
  "UPDATE bench_tokens SET consume_time = $2 WHERE hash = $1 AND consume_time IS NULL RETURNING family_id, generation";
const INSERT = "INSERT INTO bench_tokens (hash, family_id, generation, expire_time) VALUES ($1, $2, $3, $4)";

const ROTATE_ONE_STATEMENT = `WITH consumed AS (${CONSUME})
  INSERT INTO bench_tokens (hash, family_id, generation, expire_time)
  SELECT $3, family_id, generation + 1, $4 FROM consumed RETURNING generation`;

/** Each chain rotates its own, never used family: the successor's hash becomes the next one to present. */
let unusedToken = 1;
function chains(count) {
  return Array.from({ length: count }, () => hashOf(unusedToken++));
}

const drivers = {
  pg: () => {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    return {
      select: async (i) => (await pool.query({ name: "sel", text: SELECT, values: [hashOf(i)] })).rows[0],
      rotate: async (hash) => {
        const client = await pool.connect();
        try {
          await client.query("BEGIN");
          const r = await client.query({ name: "consume", text: CONSUME, values: [hash, 1] });
          const next = newHash();
          await client.query({ name: "insert", text: INSERT, values: [next, r.rows[0].family_id, r.rows[0].generation + 1, 4102444800] });
          await client.query("COMMIT");
          return next;
        } catch (err) {
          await client.query("ROLLBACK");
          throw err;
        } finally {
          client.release();
        }
      },
      end: () => pool.end(),
    };
  },
  // The same write as one statement (a data-modifying CTE is atomic on its own): one round trip instead of four.
  "pg 1-stmt": () => {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    return {
      select: async (i) => (await pool.query({ name: "sel", text: SELECT, values: [hashOf(i)] })).rows[0],
      rotate: async (hash) => {
        const next = newHash();
        const r = await pool.query({ name: "rotate", text: ROTATE_ONE_STATEMENT, values: [hash, 1, next, 4102444800] });
        if (r.rowCount !== 1) throw new Error("lost the token");
        return next;
      },
      end: () => pool.end(),
    };
  },
  postgres: postgres && (() => {
    const sql = postgres(url, { max: 10, prepare: true, onnotice: () => {} });
    return {
      select: async (i) => (await sql.unsafe(SELECT, [hashOf(i)], { prepare: true }))[0],
      rotate: (hash) =>
        sql.begin(async (tx) => {
          const [row] = await tx.unsafe(CONSUME, [hash, 1], { prepare: true });
          const next = newHash();
          await tx.unsafe(INSERT, [next, row.family_id, row.generation + 1, 4102444800], { prepare: true });
          return next;
        }),
      end: () => sql.end(),
    };
  }),
};

async function measure(fn, callers) {
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: callers }, async (_, c) => {
      while (performance.now() < until) {
        await fn(c);
        done++;
      }
    }),
  );
  return done / SECONDS;
}

for (let round = 1; round <= Number(args.rounds); round++) {
  for (const [name, make] of Object.entries(drivers)) {
    if (!make) continue;
    const d = make();
    for (const callers of [1, 16]) {
      let i = 0;
      const before = process.cpuUsage();
      const sel = await measure(() => d.select((i++ % 20000) + 1), callers);
      const selCpu = process.cpuUsage(before);
      const heads = chains(callers);
      const before2 = process.cpuUsage();
      const rot = await measure(async (c) => {
        heads[c] = await d.rotate(heads[c]);
      }, callers);
      const rotCpu = process.cpuUsage(before2);
      const perOp = (cpu, rate) => (((cpu.user + cpu.system) / (rate * SECONDS))).toFixed(0);
      console.log(
        `round ${round} ${name.padEnd(10)} callers=${String(callers).padStart(2)}  select ${Math.round(sel)}/s (${perOp(selCpu, sel)} µs node CPU each)  rotation ${Math.round(rot)}/s (${perOp(rotCpu, rot)} µs node CPU each)`,
      );
    }
    await d.end();
  }
}
await server?.stop();
