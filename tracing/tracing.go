// Package tracing records OpenTelemetry traces of Latchkey's work and
// exports them by OTLP over HTTP. Each concern attaches in one place:
//
//   - a span per API request, named by its route pattern, continuing the
//     caller's trace when the request carries a W3C traceparent:
//     Middleware, around the API's handler;
//   - a child span per store call made for a traced request: StoreHook, a
//     hook of the store wrapper (a call outside any trace, such as the
//     outbox's polls, makes none);
//   - a span per provider call: Sender, a wrapper around each provider,
//     carrying the message's ID. The first delivery of a message handed
//     over by its send is a child of the send's span (Carry, given to the
//     outbox worker); a retry, or a message claimed from the outbox, is a
//     trace of its own, since the database keeps no trace context.
//   - the trace and span IDs on every log line written in a traced
//     context: LogHandler.
//
// No span attribute holds a user, an address, a code or a token: spans
// carry route patterns (never raw paths or queries), methods, statuses,
// store operations, channels, providers and message IDs, and an error is
// described by its code, never its text, which may quote an address.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Config configures tracing, from the OTEL_* variables.
type Config struct {
	// Endpoint is the URL spans are exported to by OTLP over HTTP
	// (protobuf). The exporter reads its other settings (headers,
	// timeout, compression, TLS) from the OTEL_EXPORTER_OTLP_* variables
	// itself, and the batching from OTEL_BSP_*.
	Endpoint    string
	ServiceName string
	Version     string
	// Sampler is an OTEL_TRACES_SAMPLER name; SamplerArg the ratio of a
	// traceidratio sampler.
	Sampler    string
	SamplerArg float64
	// Database is the store's system, as db.system.name names it:
	// "sqlite" or "postgresql".
	Database string
	// Log receives the SDK's errors, such as a failed export.
	Log *slog.Logger
}

// Tracing records and exports traces.
type Tracing struct {
	provider   *sdktrace.TracerProvider
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	database   string
}

// Start sets up the exporter, the sampler and the service's resource.
// Spans are exported in batches; Shutdown exports what is left.
func Start(ctx context.Context, cfg Config) (*Tracing, error) {
	sampler, err := newSampler(cfg.Sampler, cfg.SamplerArg)
	if err != nil {
		return nil, err
	}
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("traces: %w", err)
	}
	// The service's name and version, then OTEL_RESOURCE_ATTRIBUTES (and
	// OTEL_SERVICE_NAME, which the configuration already applied).
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(cfg.ServiceName), semconv.ServiceVersion(cfg.Version)),
		resource.WithFromEnv(), resource.WithHost(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("traces: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	if cfg.Log != nil {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { cfg.Log.Warn("traces", "err", err) }))
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res), sdktrace.WithSampler(sampler))
	return newTracing(provider, cfg.Database), nil
}

// newTracing records spans through provider; database is the store's
// db.system.name.
func newTracing(provider *sdktrace.TracerProvider, database string) *Tracing {
	return &Tracing{provider: provider, tracer: provider.Tracer("github.com/latchkeyhq/latchkey"),
		propagator: propagation.TraceContext{}, database: database}
}

// newSampler is the sampler OTEL_TRACES_SAMPLER names.
func newSampler(name string, ratio float64) (sdktrace.Sampler, error) {
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_on", "":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	default:
		return nil, fmt.Errorf("traces: unknown sampler %q", name)
	}
}

// Shutdown exports the spans still batched and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }
