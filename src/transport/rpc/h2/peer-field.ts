/**
 * The request field carrying a caller's address from tessera's HTTP/2 front to grpc-js behind it (h2/server.ts).
 * The front always sets it itself; no handler sees it, on either path.
 */
export const PEER_FIELD = "x-tessera-peer";
