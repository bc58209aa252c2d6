import { StorageError } from "../../domain/errors.js";

function sqliteCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : undefined;
}

export function isSqliteBusy(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || code?.startsWith("SQLITE_BUSY_") === true;
}

function isSqliteUnavailable(code: string): boolean {
  return code === "SQLITE_FULL" || code === "SQLITE_READONLY" || code === "SQLITE_IOERR" || code.startsWith("SQLITE_IOERR_") || code === "SQLITE_CANTOPEN";
}

/** SQLite's error codes as the engine-neutral StorageError; anything else (an OAuthError from a unit of work) passes unchanged. */
export function toStorageError(err: unknown): unknown {
  const code = sqliteCode(err);
  if (code === undefined || !code.startsWith("SQLITE_")) return err;
  if (isSqliteBusy(err)) return new StorageError("busy", code, { cause: err });
  if (isSqliteUnavailable(code)) return new StorageError("unavailable", code, { cause: err });
  if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") return new StorageError("conflict", code, { cause: err });
  if (code === "SQLITE_CONSTRAINT_FOREIGNKEY") return new StorageError("gone", code, { cause: err });
  return err;
}
