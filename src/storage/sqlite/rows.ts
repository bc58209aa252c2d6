export type { PageCursor } from "../../domain/records.js";

/** Conversions between SQLite columns and domain values. */
export const json = (value: unknown): string => JSON.stringify(value);
export const parseList = (text: string): string[] => JSON.parse(text) as string[];
export const optionalNumber = (value: number | null): number | undefined => (value === null ? undefined : value);
export const nullable = <T>(value: T | undefined): T | null => (value === undefined ? null : value);
