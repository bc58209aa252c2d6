/** The synchronous shape of a port: better-sqlite3 repositories return values; the adapter wraps them in promises. */
export type Sync<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : T[K];
};
