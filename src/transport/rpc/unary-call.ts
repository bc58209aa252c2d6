// The one shape of a unary gRPC call that handleUnary (grpc-server.ts) serves, whichever way it arrived.

/** What a request decoder hands over instead of a message it could not decode. */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** A `-bin` header's values: Connect and Fetch Headers carry them base64-encoded, joined with commas. */
export function binaryValues(value: string): string[] {
  return value.split(",").map((v) => v.trim());
}

/** A call's final status as the adapters send it: trailer values as Headers, `-bin` ones base64 (as Connect carries them). */
export interface CallStatus {
  code: number;
  details: string;
  trailer: Headers | undefined;
}

/**
 * One unary call as the handler sees it, whichever way it arrived: through grpc-js (`GrpcJsCall`), or read and
 * answered on the HTTP/2 stream itself (`DirectCall`, grpc-direct.ts).
 */
export interface UnaryCall {
  readonly requestHeader: Headers;
  /** Epoch milliseconds, or undefined without a deadline. */
  readonly deadline: number | undefined;
  readonly path: string;
  /** The decoded request, or why it could not be decoded. */
  readonly request: unknown;
  peer(): string;
  /** Calls `listener` if the peer goes away before the call is answered. */
  onCancel(listener: () => void): void;
  /**
   * Sends the response header (whatever the handler added, and the request id unless it set one), then the
   * message and the OK status.
   */
  ok(requestId: string, header: Headers | undefined, response: unknown, trailer: Headers | undefined): void;
  /** Sends the response header as `ok` does, then the status. */
  fail(requestId: string, header: Headers | undefined, status: CallStatus): void;
}
