import { context, diag, DiagConsoleLogger, DiagLogLevel, propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { OtlpProtocol, Tracing, TracingSettings } from "./tracing-config.js";

/** Imported only when tracing is on (see loadTracing): the SDK is never loaded otherwise. */

async function otlpExporter(protocol: OtlpProtocol): Promise<SpanExporter> {
  // Each exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT and _COMPRESSION itself.
  switch (protocol) {
    case "http/json":
      return new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter();
    case "grpc":
      return new (await import("@opentelemetry/exporter-trace-otlp-grpc")).OTLPTraceExporter();
    default:
      return new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter();
  }
}

/**
 * Starts the SDK and registers it with the OpenTelemetry API (tracer provider, AsyncLocalStorage
 * context, W3C trace context propagation). The sampler and batch settings come from the standard
 * variables (OTEL_TRACES_SAMPLER, OTEL_BSP_SCHEDULE_DELAY, …). `shutdown` unregisters and exports what
 * is buffered, so a later start in the same process (tests) registers afresh. Export failures go to
 * stderr (the SDK's diagnostics at level warn).
 */
export async function startTracing(settings: TracingSettings): Promise<Tracing> {
  diag.setLogger(new DiagConsoleLogger(), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  const processors: SpanProcessor[] = [];
  if (settings.exporters.includes("otlp")) processors.push(new BatchSpanProcessor(await otlpExporter(settings.protocol)));
  if (settings.exporters.includes("console")) processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: processors });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  let stopped: Promise<void> | undefined;
  return {
    forceFlush: () => provider.forceFlush(),
    shutdown: () => {
      if (stopped === undefined) {
        // Unregistered at once: a later start in this process (tests) must not lose its registration to a slow flush.
        trace.disable();
        context.disable();
        propagation.disable();
        stopped = provider.shutdown();
      }
      return stopped;
    },
  };
}
