/**
 * Answers decided during one turn of the event loop, written together when the turn ends (one `setImmediate`).
 *
 * Under load one turn handles many requests. Written as each is decided, every HTTP/1.1 answer woke its peer again
 * (an inter-processor wake-up per answer, the costliest part of a socket write on a VM), and every gRPC answer went
 * out while the next connections' requests still waited to be read; written together, a turn reads all it can,
 * then writes (docs/performance.md: "Where the socket write's time went", and the fifth session). A lone request
 * waits microseconds. Both doors queue here: GatewayResponse (HTTP, Connect) and the gRPC stream path.
 */
export interface Answer {
  /** Writes the answer, unless its peer went away meanwhile. Must not throw: it would cost the turn's other answers. */
  answerNow(): void;
}

let queued: Answer[] = [];
/** Taken when this module loads, so a test's fake timers never hold answers back. */
const runAtEndOfTurn = setImmediate;

/** Queues an answer to be written when the current turn ends, after the answers queued before it. */
export function answerAtEndOfTurn(answer: Answer): void {
  if (queued.length === 0) runAtEndOfTurn(writeQueued);
  queued.push(answer);
}

function writeQueued(): void {
  const answers = queued;
  queued = [];
  for (const answer of answers) answer.answerNow();
}
