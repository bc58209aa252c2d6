import { ConfigError } from "../config.js";

/** The OTLP wire formats tessera can export in (OTEL_EXPORTER_OTLP_PROTOCOL). */
export type OtlpProtocol = "http/protobuf" | "http/json" | "grpc";

/** What the standard OTEL_* variables ask for, once tracing is on. */
export interface TracingSettings {
  /** `otlp` and/or `console` (OTEL_TRACES_EXPORTER). */
  exporters: ("otlp" | "console")[];
  protocol: OtlpProtocol;
  serviceName: string;
}

/** The tracing side of a running app: flushes and stops the exporter. */
export interface Tracing {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

const PROTOCOLS: readonly string[] = ["http/protobuf", "http/json", "grpc"];
const SAMPLERS: readonly string[] = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
];

const set = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
};

/**
 * Reads the standard OpenTelemetry variables. Tracing is on only when an OTLP endpoint or
 * OTEL_TRACES_EXPORTER is set (and not `none`, and OTEL_SDK_DISABLED is not `true`): unset, tessera
 * never loads the SDK. Throws ConfigError for values the SDK would silently replace by a default.
 */
export function readTracingSettings(env: NodeJS.ProcessEnv): TracingSettings | undefined {
  if (set(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return undefined;
  const exporterVar = set(env, "OTEL_TRACES_EXPORTER");
  const endpoint = set(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ?? set(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  if (exporterVar === undefined && endpoint === undefined) return undefined;
  const names = (exporterVar ?? "otlp").split(",").map((n) => n.trim().toLowerCase()).filter((n) => n !== "");
  if (names.includes("none")) return undefined;
  for (const name of names) {
    if (name !== "otlp" && name !== "console") {
      throw new ConfigError("OTEL_TRACES_EXPORTER", `"${name.slice(0, 40)}" is not supported; use otlp, console or none`);
    }
  }
  for (const variable of ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]) {
    const url = set(env, variable);
    if (url !== undefined && !/^https?:\/\//i.test(url)) throw new ConfigError(variable, "must be an http:// or https:// URL");
    if (url !== undefined && !URL.canParse(url)) throw new ConfigError(variable, "is not a valid URL");
  }
  const protocolVar = set(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") === undefined ? "OTEL_EXPORTER_OTLP_PROTOCOL" : "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
  const protocol = set(env, protocolVar) ?? "http/protobuf";
  if (!PROTOCOLS.includes(protocol)) throw new ConfigError(protocolVar, `"${protocol.slice(0, 40)}" is not one of ${PROTOCOLS.join(", ")}`);
  const sampler = set(env, "OTEL_TRACES_SAMPLER");
  if (sampler !== undefined && !SAMPLERS.includes(sampler)) {
    throw new ConfigError("OTEL_TRACES_SAMPLER", `"${sampler.slice(0, 40)}" is not one of ${SAMPLERS.join(", ")}`);
  }
  const ratio = set(env, "OTEL_TRACES_SAMPLER_ARG");
  if (sampler?.endsWith("traceidratio") === true && ratio !== undefined && !(Number(ratio) >= 0 && Number(ratio) <= 1)) {
    throw new ConfigError("OTEL_TRACES_SAMPLER_ARG", "must be a number from 0 to 1");
  }
  return {
    exporters: [...new Set(names)] as TracingSettings["exporters"],
    protocol: protocol as OtlpProtocol,
    serviceName: set(env, "OTEL_SERVICE_NAME") ?? "tessera",
  };
}

/**
 * Starts the OpenTelemetry SDK when the OTEL_* variables ask for it; `undefined` (and the SDK never
 * imported) otherwise. The SDK reads the rest of the standard variables (headers, timeouts, batch
 * sizes, sampler) from `process.env` itself, so `env` is `process.env` outside tests of this function.
 */
export async function loadTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracing | undefined> {
  const settings = readTracingSettings(env);
  if (settings === undefined) return undefined;
  const { startTracing } = await import("./tracing.js");
  return startTracing(settings);
}
