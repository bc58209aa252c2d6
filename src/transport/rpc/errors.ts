import type { DescService } from "@bufbuild/protobuf";
import { ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { toOAuthError, type OAuthError } from "../../domain/errors.js";
import { fieldWithNul, nulRefused } from "../nul.js";

export const ERROR_DOMAIN = "tessera";

/** An OAuthError as a ConnectError: gRPC code from the one table, OAuth error string in ErrorInfo.reason. */
export function toConnectError(err: unknown, requestId?: string): ConnectError {
  if (err instanceof ConnectError) return err;
  const oauth: OAuthError = toOAuthError(err);
  const metadata = requestId === undefined ? {} : { request_id: requestId };
  const details: NonNullable<ConstructorParameters<typeof ConnectError>[3]> = [{ desc: ErrorInfoSchema, value: { reason: oauth.error, domain: ERROR_DOMAIN, metadata } }];
  const retryAfter = retryAfterSeconds(oauth);
  if (retryAfter !== undefined) details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(retryAfter) } } });
  return new ConnectError(oauth.description, oauth.grpcCode, undefined, details);
}

/** Seconds a throttled caller must wait (the `retryAfter` of ThrottledError, also HTTP's Retry-After). */
function retryAfterSeconds(err: OAuthError): number | undefined {
  const value = (err as { retryAfter?: unknown }).retryAfter;
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
}

type AnyMethod = (req: unknown, ctx: HandlerContext) => unknown;

/**
 * Wraps every method of a ServiceImpl so domain errors leave as ConnectErrors, and a request holding a NUL
 * character is refused before the method runs (nul.ts). Both doors (connect-node and the grpc-js adapter) serve
 * the wrapped object. `onError` sees the original.
 */
export function withErrorMapping<S extends DescService>(
  impl: Partial<ServiceImpl<S>>,
  onError?: (err: unknown, ctx: HandlerContext) => void,
): Partial<ServiceImpl<S>> {
  const wrapped: Record<string, AnyMethod> = {};
  for (const [name, fn] of Object.entries(impl as Record<string, AnyMethod>)) {
    const map = (err: unknown, ctx: HandlerContext): ConnectError => {
      onError?.(err, ctx);
      return toConnectError(err, ctx.requestHeader.get("x-request-id") ?? undefined);
    };
    // Not an async function: a method's own promise is handed on with one rejection handler, not awaited in another.
    wrapped[name] = (req, ctx) => {
      let result: unknown;
      try {
        const nul = fieldWithNul(req);
        if (nul !== undefined) throw nulRefused(`"${nul}"`);
        result = fn(req, ctx);
      } catch (err) {
        return Promise.reject(map(err, ctx));
      }
      return result instanceof Promise
        ? result.catch((err: unknown) => {
            throw map(err, ctx);
          })
        : Promise.resolve(result);
    };
  }
  return wrapped as Partial<ServiceImpl<S>>;
}
