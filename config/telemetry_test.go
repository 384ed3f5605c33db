package config_test

import (
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/config"
)

func TestMetricsAddress(t *testing.T) {
	c, err := config.Load(getenv(nil))
	if err != nil || c.MetricsAddr != "" {
		t.Fatalf("default metrics address = %q, %v; want none: metrics are off unless asked for", c.MetricsAddr, err)
	}
	c, err = config.Load(getenv(map[string]string{"LATCHKEY_METRICS_ADDR": "127.0.0.1:7081"}))
	if err != nil || c.MetricsAddr != "127.0.0.1:7081" {
		t.Fatalf("metrics address = %q, %v; want 127.0.0.1:7081", c.MetricsAddr, err)
	}
	if _, err := config.Load(getenv(map[string]string{"LATCHKEY_METRICS_ADDR": "metrics"})); err == nil ||
		!strings.Contains(err.Error(), "LATCHKEY_METRICS_ADDR") {
		t.Fatalf("a metrics address without a port: %v; want it named as invalid", err)
	}
}

// TestTracingFollowsTheOTELVariables checks when tracing is on, where its
// spans go and how they are sampled, from OpenTelemetry's variables.
func TestTracingFollowsTheOTELVariables(t *testing.T) {
	cases := []struct {
		name string
		vars map[string]string
		want config.Tracing
	}{
		{"off by default", nil, config.Tracing{ServiceName: "latchkey", Sampler: "parentbased_always_on", SamplerArg: 1}},
		{"the endpoint's /v1/traces", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			config.Tracing{Endpoint: "http://collector:4318/v1/traces", ServiceName: "latchkey", Sampler: "parentbased_always_on", SamplerArg: 1}},
		{"the traces' own endpoint as it is", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example/otlp", "OTEL_SERVICE_NAME": "login",
			"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
			config.Tracing{Endpoint: "https://traces.example/otlp", ServiceName: "login", Sampler: "traceidratio", SamplerArg: 0.25}},
		{"disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
			config.Tracing{ServiceName: "latchkey", Sampler: "parentbased_always_on", SamplerArg: 1}},
		{"no exporter", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"},
			config.Tracing{ServiceName: "latchkey", Sampler: "parentbased_always_on", SamplerArg: 1}},
	}
	for _, tc := range cases {
		c, err := config.Load(getenv(tc.vars))
		if err != nil || c.Tracing != tc.want {
			t.Errorf("%s: tracing = %+v, %v; want %+v", tc.name, c.Tracing, err, tc.want)
		}
	}
	for name, value := range map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL":        "grpc",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "collector:4318",
		"OTEL_TRACES_SAMPLER":                "jaeger_remote",
		"OTEL_TRACES_SAMPLER_ARG":            "2",
		"OTEL_TRACES_EXPORTER":               "zipkin",
	} {
		if _, err := config.Load(getenv(map[string]string{name: value})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v; want it named as invalid", name, value, err)
		}
	}
}
