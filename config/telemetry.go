package config

import (
	"net/url"
	"strconv"
	"strings"
)

// telemetryVars are the variables of metrics and traces. Traces take
// OpenTelemetry's standard OTEL_* variables; those listed are the ones
// Latchkey checks at start-up, and the OpenTelemetry SDK honours the rest
// of the exporter's (OTEL_EXPORTER_OTLP_TIMEOUT, _COMPRESSION,
// _CERTIFICATE and their _TRACES_ forms) and of its batching
// (OTEL_BSP_*).
var telemetryVars = []Var{
	{"LATCHKEY_METRICS_ADDR", "", "when set, serve Prometheus metrics at /metrics on this separate address, e.g. 127.0.0.1:7081 (latchkey dev: LATCHKEY_ADDR's port + 1, unless taken)"},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "", "when set, export traces by OTLP over HTTP to this collector, e.g. http://127.0.0.1:4318 (to its /v1/traces)"},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "the full URL traces are exported to, instead of OTEL_EXPORTER_OTLP_ENDPOINT's /v1/traces"},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "the export protocol: http/protobuf (the only one supported; also OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)"},
	{"OTEL_EXPORTER_OTLP_HEADERS", "", "headers of every export, key=value pairs separated by commas (e.g. a collector's API key)"},
	{"OTEL_SERVICE_NAME", "latchkey", "the service.name of every span"},
	{"OTEL_RESOURCE_ATTRIBUTES", "", "more attributes of the service, key=value pairs separated by commas (e.g. deployment.environment=prod)"},
	{"OTEL_TRACES_SAMPLER", "parentbased_always_on", "which requests are traced: always_on, always_off, traceidratio, or parentbased_ of these (follow the caller's traceparent)"},
	{"OTEL_TRACES_SAMPLER_ARG", "", "the ratio of traces kept by a traceidratio sampler, from 0 to 1 (default 1)"},
	{"OTEL_TRACES_EXPORTER", "otlp", "otlp, or none to turn traces off"},
	{"OTEL_SDK_DISABLED", "false", "true turns traces off"},
}

// Tracing is the configuration of traces.
type Tracing struct {
	// Endpoint is the URL spans are exported to, by OTLP over HTTP
	// (protobuf); "" when tracing is off.
	Endpoint    string
	ServiceName string
	// Sampler is OTEL_TRACES_SAMPLER's value; SamplerArg the ratio of a
	// traceidratio sampler.
	Sampler    string
	SamplerArg float64
}

// samplers are the OTEL_TRACES_SAMPLER values supported.
var samplers = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// tracing reads the OTEL_* variables. Tracing is on when an endpoint is
// set, unless OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none.
func (l *loader) tracing() Tracing {
	t := Tracing{ServiceName: l.get("OTEL_SERVICE_NAME"), Sampler: l.oneOf("OTEL_TRACES_SAMPLER", samplers), SamplerArg: 1}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if v := strings.TrimSpace(l.getenv(name)); v != "" && v != "http/protobuf" {
			l.bad(name, v, "only http/protobuf is supported")
		}
	}
	if v := strings.TrimSpace(l.getenv("OTEL_TRACES_SAMPLER_ARG")); v != "" {
		ratio, err := strconv.ParseFloat(v, 64)
		if err != nil || ratio < 0 || ratio > 1 {
			l.bad("OTEL_TRACES_SAMPLER_ARG", v, "want a ratio from 0 to 1, like 0.25")
		}
		t.SamplerArg = ratio
	}
	t.Endpoint = l.otlpEndpoint()
	exporter := strings.TrimSpace(l.getenv("OTEL_TRACES_EXPORTER"))
	if exporter != "" && exporter != "otlp" && exporter != "none" {
		l.bad("OTEL_TRACES_EXPORTER", exporter, "want otlp or none")
	}
	if strings.EqualFold(strings.TrimSpace(l.getenv("OTEL_SDK_DISABLED")), "true") || exporter == "none" {
		t.Endpoint = ""
	}
	return t
}

// otlpEndpoint is the URL traces go to: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// as it is, or OTEL_EXPORTER_OTLP_ENDPOINT's /v1/traces.
func (l *loader) otlpEndpoint() string {
	name, v := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", strings.TrimSpace(l.getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	signalPath := ""
	if v == "" {
		name, v = "OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimSpace(l.getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
		signalPath = "/v1/traces"
	}
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		l.bad(name, redactURL(v), "want an http or https URL, like http://127.0.0.1:4318")
		return ""
	}
	if signalPath != "" {
		u.Path = strings.TrimRight(u.Path, "/") + signalPath
	}
	return u.String()
}
