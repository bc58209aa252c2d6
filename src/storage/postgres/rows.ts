/** Conversions between PostgreSQL columns and domain values (BIGINT arrives as a number, JSONB parsed, BYTEA as a Buffer). */
export { json, nullable, optionalNumber } from "../rows.js";
/** Sorted as JavaScript sorts (code units), whatever the database's collation. */
export const sortedList = (value: string[] | null): string[] => (value ?? []).slice().sort();

/** The keyset condition and order for pages by (create_time, id); `$n` numbers start at `first`. */
export const after = (alias: string, first: number): string =>
  `(${alias}create_time > $${first} OR (${alias}create_time = $${first} AND ${alias}id > $${first + 1})) ORDER BY ${alias}create_time, ${alias}id LIMIT $${first + 2}`;
