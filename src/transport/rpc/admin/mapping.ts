import { create } from "@bufbuild/protobuf";
import { DurationSchema, timestampFromMs, type Duration, type FieldMask, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { authorizeAdmin, type Caller } from "../../../core/admin/authorize.js";
import type { Page } from "../../../core/admin/paging.js";
import type { Core } from "../../../core/core.js";
import { invalidRequest } from "../../../domain/errors.js";
import type { LifetimeOverrides } from "../../../domain/types.js";
import { opt } from "../request.js";

/** The admin caller behind the request's `authorization: Bearer …` header (or gRPC metadata). */
export function callerOf(core: Core, ctx: HandlerContext): Promise<Caller> {
  return authorizeAdmin(core, ctx.requestHeader.get("authorization"));
}

/** A Duration as whole seconds; unset stays undefined, fractions and negatives are refused by name. */
export function durationSeconds(d: Duration | undefined, field: string): number | undefined {
  if (d === undefined) return undefined;
  if (d.nanos !== 0) throw invalidRequest(`${field} must be a whole number of seconds`);
  if (d.seconds < 0n) throw invalidRequest(`${field} must not be negative`);
  if (d.seconds > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidRequest(`${field} is too large`);
  return Number(d.seconds);
}

export function toDuration(seconds: number | undefined): Duration | undefined {
  return seconds === undefined ? undefined : create(DurationSchema, { seconds: BigInt(seconds) });
}

export const toTimestamp = (seconds: number): Timestamp => timestampFromMs(seconds * 1000);

/** A required message field of the request, or INVALID_ARGUMENT naming it. */
export function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw invalidRequest(`${field} is required`);
  return value;
}

/** A required id field. */
export function requiredId(value: string, field = "id"): string {
  if (value === "") throw invalidRequest(`${field} is required`);
  if (value.length > 256) throw invalidRequest(`${field} must be at most 256 characters`);
  return value;
}

export const maskOf = (mask: FieldMask | undefined): string[] => mask?.paths ?? [];


/** A core page as a List response's fields. */
export function pageResponse<T, M, K extends string>(key: K, page: Page<T>, map: (item: T) => M): Record<K, M[]> & { nextPageToken: string } {
  return { [key]: page.items.map(map), nextPageToken: page.nextPageToken } as Record<K, M[]> & { nextPageToken: string };
}

/** The lifetime Durations a Resource or Client message carries. */
interface LifetimeFields {
  accessTokenTtl?: Duration | undefined;
  refreshTokenTtl?: Duration | undefined;
  maxRotation?: Duration | undefined;
}

export function lifetimesFrom(m: LifetimeFields, prefix: string): LifetimeOverrides {
  return {
    accessTokenTtl: durationSeconds(m.accessTokenTtl, `${prefix}.access_token_ttl`),
    refreshTokenTtl: durationSeconds(m.refreshTokenTtl, `${prefix}.refresh_token_ttl`),
    maxRotation: durationSeconds(m.maxRotation, `${prefix}.max_rotation`),
  };
}

export function lifetimeFields(l: LifetimeOverrides): LifetimeFields {
  return { accessTokenTtl: toDuration(l.accessTokenTtl), refreshTokenTtl: toDuration(l.refreshTokenTtl), maxRotation: toDuration(l.maxRotation) };
}

/** The paging fields (and optional application filter) of a List request. */
export function pageRequest(req: { pageSize: number; pageToken: string; applicationId?: string }) {
  return { pageSize: req.pageSize, pageToken: req.pageToken, applicationId: req.applicationId === undefined ? undefined : opt(req.applicationId) };
}
