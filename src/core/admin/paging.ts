import { timingSafeEqual } from "node:crypto";
import { invalidRequest } from "../../domain/errors.js";
import type { PageCursor } from "../../domain/records.js";
import type { Core } from "../core.js";
import type { Caller } from "./authorize.js";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export interface PageRequest {
  pageSize?: number | undefined;
  pageToken?: string | undefined;
}

export interface Page<T> {
  items: T[];
  /** Empty on the last page. */
  nextPageToken: string;
}

/** The page size to fetch: 0 or unset means the default, anything larger than the maximum is clamped. */
export function pageSize(requested: number | undefined): number {
  const size = requested ?? 0;
  if (!Number.isInteger(size) || size < 0) throw invalidRequest("page_size must not be negative");
  return size === 0 ? DEFAULT_PAGE_SIZE : Math.min(size, MAX_PAGE_SIZE);
}

/**
 * A keyset page of a list. The token is the last row's (create_time, id) plus a MAC over it and
 * the list's query (method, tenant, filter), so a token is opaque, cannot be edited, and only
 * continues the list it came from.
 */
export async function listPage<T extends PageCursor>(
  core: Core,
  caller: Caller,
  query: string,
  req: PageRequest,
  fetch: (after: PageCursor | undefined, limit: number) => Promise<T[]>,
): Promise<Page<T>> {
  const size = pageSize(req.pageSize);
  const bound = `${caller.tenantId}\n${query}`;
  const after = req.pageToken === undefined || req.pageToken === "" ? undefined : readToken(core, bound, req.pageToken);
  const rows = await fetch(after, size + 1);
  const items = rows.slice(0, size);
  const last = items[items.length - 1];
  const nextPageToken = rows.length > size && last !== undefined ? writeToken(core, bound, { createTime: last.createTime, id: last.id }) : "";
  return { items, nextPageToken };
}

function mac(core: Core, bound: string, body: string): Buffer {
  return core.secrets.hash("page-token", `${bound}\n${body}`);
}

function writeToken(core: Core, bound: string, cursor: PageCursor): string {
  const body = Buffer.from(JSON.stringify([cursor.createTime, cursor.id])).toString("base64url");
  return `${body}.${mac(core, bound, body).toString("base64url")}`;
}

function readToken(core: Core, bound: string, token: string): PageCursor {
  const invalid = () => invalidRequest("page_token is invalid for this list");
  const [body, sig, extra] = token.length > 1024 ? [] : token.split(".");
  if (body === undefined || sig === undefined || extra !== undefined) throw invalid();
  const presented = Buffer.from(sig, "base64url");
  const expected = mac(core, bound, body);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw invalid();
  const value: unknown = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  if (!Array.isArray(value) || typeof value[0] !== "number" || typeof value[1] !== "string") throw invalid();
  return { createTime: value[0], id: value[1] };
}
