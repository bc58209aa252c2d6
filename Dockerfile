# tessera: one process serving the HTTP gateway (8080) and gRPC (50051), data in the /data volume.
#   docker build -t tessera .
#   docker run -d -p 8080:8080 -p 50051:50051 -v tessera-data:/data tessera
#   docker logs <container>   # the bootstrap client's credentials on first start (also in /data/bootstrap.json)
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles SQLite when no prebuilt binary can be downloaded.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen gen
COPY src src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    TESSERA_HOST=0.0.0.0 \
    TESSERA_HTTP_PORT=8080 \
    TESSERA_GRPC_PORT=50051 \
    TESSERA_DATA_DIR=/data
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist/src dist/src
COPY --from=build /src/dist/gen dist/gen
COPY LICENSE README.md ./
# The image's `node` user (uid 1000) owns the data; nothing under /app is writable by it.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME /data
EXPOSE 8080 50051
# /healthz answers 200 only when both listeners accept and the database is open.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.TESSERA_HTTP_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tessera stops gracefully on SIGTERM (in-flight calls finish, spans flushed, exit 0 within 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve"]
