package tracing

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// recorded returns a Tracing whose every span is kept by the returned
// recorder once ended.
func recorded(t *testing.T) (*Tracing, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	return newTracing(provider, "sqlite"), rec
}

// attrs returns a span's attributes by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

const callerTrace = "0af7651916cd43dd8448eb211c80319c"

// TestRequestSpanContinuesTheCallersTrace serves requests through the
// middleware around a mux, with the store hook inside: a request carrying
// a traceparent is a child of the caller's span, named by its route
// pattern, with its store call as its own child; nothing names the raw
// path.
func TestRequestSpanContinuesTheCallersTrace(t *testing.T) {
	tr, rec := recorded(t)
	hook := tr.StoreHook()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/email/{email}", func(w http.ResponseWriter, r *http.Request) {
		_ = hook(r.Context(), "GetUserByEmail", func(context.Context) error { return latchkey.ErrNotFound })
		w.WriteHeader(http.StatusNotFound)
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	h := tr.Middleware(mux)
	req := httptest.NewRequest(http.MethodGet, "/users/email/ada@example.com?code=123456", nil)
	req.Header.Set("traceparent", "00-"+callerTrace+"-b7ad6b7169203331-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/fail", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nowhere/ada@example.com", nil))

	spans := rec.Ended()
	if len(spans) != 4 {
		t.Fatalf("%d spans ended; want the store call's and three requests'", len(spans))
	}
	store, get, fail, unmatched := spans[0], spans[1], spans[2], spans[3]
	if get.Name() != "GET /users/email/{email}" || get.SpanKind() != trace.SpanKindServer ||
		get.SpanContext().TraceID().String() != callerTrace || get.Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Fatalf("the request's span: %q in trace %s under %s; want the route's name, in the caller's trace, under its span",
			get.Name(), get.SpanContext().TraceID(), get.Parent().SpanID())
	}
	if a := attrs(get); a["http.route"].AsString() != "/users/email/{email}" || a["http.response.status_code"].AsInt64() != 404 {
		t.Errorf("the request's attributes: %v", a)
	}
	if store.Name() != "store.GetUserByEmail" || store.Parent().SpanID() != get.SpanContext().SpanID() ||
		store.Status().Code == codes.Error || attrs(store)["db.system.name"].AsString() != "sqlite" {
		t.Errorf("the store call's span: %q under %s, status %v; want store.GetUserByEmail under the request's, a missing row no error",
			store.Name(), store.Parent().SpanID(), store.Status())
	}
	if fail.Name() != "POST /fail" || fail.Status().Code != codes.Error || fail.Parent().IsValid() {
		t.Errorf("a 503's span: %q, status %v, parent %v; want a root span marked an error", fail.Name(), fail.Status(), fail.Parent())
	}
	if unmatched.Name() != "GET" {
		t.Errorf("an unmatched request's span is named %q; want its method alone", unmatched.Name())
	}
	for _, s := range spans {
		for k, v := range attrs(s) {
			if strings.Contains(v.Emit(), "example.com") || strings.Contains(v.Emit(), "123456") {
				t.Errorf("the span %q holds %s=%s, from the request's path or query", s.Name(), k, v.Emit())
			}
		}
	}
}

func TestStoreCallsOutsideATraceMakeNoSpan(t *testing.T) {
	tr, rec := recorded(t)
	hook := tr.StoreHook()
	if err := hook(context.Background(), "ClaimMessages", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	ctx, parent := tr.tracer.Start(context.Background(), "request")
	down := errors.Join(latchkey.ErrUnavailable, errors.New("no answer from 10.0.0.5"))
	if err := hook(ctx, "GetApp", func(context.Context) error { return down }); !errors.Is(err, latchkey.ErrUnavailable) {
		t.Fatalf("the hook returned %v; want the call's own error", err)
	}
	parent.End()
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "store.GetApp" {
		t.Fatalf("%d spans; want the traced call's and its parent's only", len(spans))
	}
	if st := spans[0].Status(); st.Code != codes.Error || st.Description != "unavailable" {
		t.Fatalf("an unavailable call's status: %v; want an error described by its code alone", st)
	}
}

// failingSender fails with a text that quotes the address, as providers do.
type failingSender struct{}

func (failingSender) Name() string { return "smtp" }
func (failingSender) Send(context.Context, latchkey.Message) error {
	return delivery.Permanent(errors.New("550 5.1.1 <ada@example.com>: recipient rejected"))
}

func TestEachProviderCallIsASpan(t *testing.T) {
	tr, rec := recorded(t)
	s := tr.Sender(failingSender{})
	m := latchkey.Message{ID: "msg1", Channel: latchkey.ChannelEmail, To: "ada@example.com", Text: "Code 123456", Attempts: 2}
	if err := s.Send(context.Background(), m); !delivery.IsPermanent(err) {
		t.Fatalf("the wrapper returned %v; want the provider's error", err)
	}
	if s.Name() != "smtp" {
		t.Fatalf("the wrapper is named %q; want the provider's name", s.Name())
	}
	span := rec.Ended()[0]
	a := attrs(span)
	if span.Name() != "deliver email" || span.Parent().IsValid() || a["latchkey.provider"].AsString() != "smtp" ||
		a["latchkey.message_id"].AsString() != "msg1" || a["latchkey.attempt"].AsInt64() != 3 || !a["latchkey.permanent"].AsBool() {
		t.Fatalf("the delivery's span: %q, parent %v, attributes %v", span.Name(), span.Parent(), a)
	}
	if span.Status().Code != codes.Error || strings.Contains(span.Status().Description, "example.com") {
		t.Fatalf("the failure's status %v; want an error that does not quote the provider", span.Status())
	}
	for _, e := range span.Events() {
		t.Errorf("the span holds an event %q; want none (an error's text may quote the address)", e.Name)
	}
}

// TestCarryMakesADeliveryAChildOfItsSend ends a request's span, then makes
// a provider call in a fresh context into which Carry took the request's:
// the delivery's span is the send's child, in its trace. Without a span
// to carry, the context is left as it was.
func TestCarryMakesADeliveryAChildOfItsSend(t *testing.T) {
	tr, rec := recorded(t)
	request, send := tr.tracer.Start(context.Background(), "POST /cis/v1/auth/otp/send")
	send.End()
	ctx := Carry(request, context.Background())
	m := latchkey.Message{ID: "msg1", Channel: latchkey.ChannelEmail}
	_ = tr.Sender(failingSender{}).Send(ctx, m)
	deliver := rec.Ended()[1]
	if deliver.Parent().SpanID() != send.SpanContext().SpanID() || deliver.SpanContext().TraceID() != send.SpanContext().TraceID() {
		t.Fatalf("the delivery's span has parent %v in trace %v; want the send's span %v",
			deliver.Parent().SpanID(), deliver.SpanContext().TraceID(), send.SpanContext())
	}
	plain := context.Background()
	if got := Carry(context.Background(), plain); got != plain {
		t.Fatal("Carry changed a context though the request had no span")
	}
}

func TestLogLinesCarryTheTrace(t *testing.T) {
	tr, _ := recorded(t)
	var out bytes.Buffer
	log := slog.New(LogHandler(slog.NewTextHandler(&out, nil))).With("component", "test")
	ctx, span := tr.tracer.Start(context.Background(), "request")
	log.InfoContext(ctx, "traced")
	span.End()
	log.Info("untraced")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	sc := span.SpanContext()
	if !strings.Contains(lines[0], "trace_id="+sc.TraceID().String()) || !strings.Contains(lines[0], "span_id="+sc.SpanID().String()) {
		t.Errorf("a line logged in a traced context: %s; want its trace and span IDs", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("a line logged outside a trace: %s; want no trace ID", lines[1])
	}
}

func TestSamplers(t *testing.T) {
	for _, name := range []string{"always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"} {
		if _, err := newSampler(name, 0.5); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := newSampler("jaeger_remote", 1); err == nil {
		t.Error("an unsupported sampler was accepted")
	}
}
