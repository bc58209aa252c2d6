// The ports a tessera server started with TESSERA_HTTP_PORT=0 and TESSERA_GRPC_PORT=0 reports on stderr
// (`tessera: serving HTTP on host:port and gRPC on host:port, …`), for the benches that start one.

/** Resolves to `{ http, grpc }` once `child` says where it serves; rejects if it exits first. */
export function serverPorts(child, label = "server") {
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
      const m = /serving HTTP on (\S+):(\d+) and gRPC on (\S+):(\d+)/.exec(err);
      if (m) resolve({ http: Number(m[2]), grpc: Number(m[4]) });
    });
    child.once("exit", (code) => reject(new Error(`${label} exited ${code}: ${err}`)));
  });
}
