export type { PageCursor } from "../../domain/records.js";

/** Conversions between SQLite columns and domain values. */
export { json, nullable, optionalNumber } from "../rows.js";
export const parseList = (text: string): string[] => JSON.parse(text) as string[];
