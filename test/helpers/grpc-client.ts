import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethodUnary, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";

export type GrpcClient<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, metadata?: Record<string, string>) => Promise<MessageShape<O>>
    : never;
} & { close(): void };

/** A promise-based grpc-js client for a protobuf-es service; calls reject with the grpc-js ServiceError. */
export function createGrpcClient<S extends DescService>(service: S, address: string): GrpcClient<S> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const methods: Record<string, unknown> = { close: () => client.close() };
  for (const method of service.methods) {
    methods[method.localName] = (request: never, headers: Record<string, string> = {}) => {
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          `/${service.typeName}/${method.name}`,
          (msg: never) => Buffer.from(toBinary(method.input, create(method.input, msg))),
          (bytes: Buffer) => fromBinary(method.output, bytes),
          request,
          metadata,
          (err, response) => (err ? reject(err) : resolve(response)),
        );
      });
    };
  }
  return methods as GrpcClient<S>;
}

/** The ErrorInfo reason carried in the `grpc-status-details-bin` trailer, if any. */
export function errorReason(err: grpc.ServiceError): string | undefined {
  const [bin] = err.metadata.get("grpc-status-details-bin");
  if (!(bin instanceof Buffer)) return undefined;
  for (const detail of fromBinary(StatusSchema, bin).details) {
    const info = anyUnpack(detail, ErrorInfoSchema);
    if (info) return info.reason;
  }
  return undefined;
}
