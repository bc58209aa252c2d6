import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";

/** The abort reason of a call that finished normally: shared, since abort() without a reason builds a DOMException per call. */
export const CALL_ENDED = new ConnectError("call ended", Code.Canceled);

/**
 * The HandlerContext of one call served by tessera's own adapters (grpc-js, and the Connect unary JSON path).
 * Unlike connect's createHandlerContext it builds the AbortSignal (an AbortController, a deadline timer), the
 * response header and trailer, and the context values only when something reads them; most handlers never do,
 * and those objects were a tenth of a token call's cost.
 */
export class LazyHandlerContext implements HandlerContext {
  readonly requestMethod = "POST";
  private contextValues: ContextValues | undefined;
  private header: Headers | undefined;
  private trailer: Headers | undefined;
  private controller: AbortController | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private endReason: unknown;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    readonly protocolName: string,
    readonly url: string,
    /** Epoch milliseconds, or undefined without a deadline. */
    private readonly deadline: number | undefined,
    readonly requestHeader: Headers,
    /** Called once when the signal is first built: lets the adapter abort it when the peer goes away. */
    private readonly onSignal?: (abort: (reason: unknown) => void) => void,
  ) {}

  get values(): ContextValues {
    return (this.contextValues ??= createContextValues());
  }

  get responseHeader(): Headers {
    return (this.header ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.trailer ??= new Headers());
  }

  /** The response header or trailer if a handler or interceptor made one, without making it. */
  peek(which: "header" | "trailer"): Headers | undefined {
    return which === "header" ? this.header : this.trailer;
  }

  readonly timeoutMs = (): number | undefined => (this.deadline === undefined ? undefined : Math.max(0, this.deadline - Date.now()));

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = (this.controller = new AbortController());
      if (this.endReason !== undefined) controller.abort(this.endReason);
      else {
        if (this.deadline !== undefined) {
          this.deadlineTimer = setTimeout(
            () => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
            Math.max(0, this.deadline - Date.now()),
          );
          this.deadlineTimer.unref();
        }
        this.onSignal?.((reason) => this.end(reason));
      }
    }
    return this.controller.signal;
  }

  /** The call is over (answered or cancelled): abort the signal if anyone holds it. Keeps the first reason. */
  end(reason: unknown): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    clearTimeout(this.deadlineTimer);
    this.controller?.abort(reason);
  }
}
