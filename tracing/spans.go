package tracing

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/internal/httpobs"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Middleware makes a span of every request next serves, the child of the
// caller's span when the request carries a traceparent. The span is named
// by the route pattern that served the request, which next sets on the
// request as a ServeMux does ("POST /cis/v1/auth/otp/send"), or by the
// method alone when no route matched.
func (t *Tracing) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		method := httpobs.Method(r.Method)
		ctx, span := t.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method)))
		defer span.End()
		rec := &httpobs.Recorder{}
		rec.Reset(w)
		r = r.WithContext(ctx)
		next.ServeHTTP(rec, r)
		if r.Pattern != "" {
			span.SetName(r.Pattern)
			span.SetAttributes(semconv.HTTPRoute(httpobs.Route(r.Pattern)))
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(rec.Status))
		if rec.Status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(rec.Status))
		}
	})
}

// StoreHook makes a span of every store call made in a traced context (a
// storehook.Hook), named "store." and the Store method's name. A call
// that failed as unavailable or internal is marked an error, described by
// its code; a missing row or a conflict is an answer, not an error.
func (t *Tracing) StoreHook() func(ctx context.Context, op string, call func(context.Context) error) error {
	system := semconv.DBSystemNameKey.String(t.database)
	return func(ctx context.Context, op string, call func(context.Context) error) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return call(ctx)
		}
		ctx, span := t.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(system, semconv.DBOperationName(op)))
		defer span.End()
		err := call(ctx)
		if code := latchkey.ErrorCode(err); code == latchkey.CodeUnavailable || code == latchkey.CodeInternal {
			span.SetStatus(codes.Error, string(code))
		}
		return err
	}
}

// Carry puts the span of from, the request that queued a message, into
// into, the context its delivery runs in (delivery.WorkerConfig.Carry):
// the provider's call made straight after the send is then a child of the
// send's span, in the caller's trace, though the request has ended.
func Carry(from, into context.Context) context.Context {
	sc := trace.SpanContextFromContext(from)
	if !sc.IsValid() {
		return into
	}
	return trace.ContextWithSpanContext(into, sc)
}

// Sender wraps a provider so that each of its calls is a span: a child
// of the caller's (the send's, for a message handed over by the request
// that queued it), or the root of a trace of its own for a message the
// outbox claimed (a retry, or one queued on another node).
func (t *Tracing) Sender(s delivery.Sender) delivery.Sender { return tracedSender{Sender: s, t: t} }

// tracedSender makes a span of every provider call.
type tracedSender struct {
	delivery.Sender
	t *Tracing
}

// Attributes of a delivery's span.
const (
	channelKey   = attribute.Key("latchkey.channel")
	providerKey  = attribute.Key("latchkey.provider")
	messageIDKey = attribute.Key("latchkey.message_id")
	attemptKey   = attribute.Key("latchkey.attempt")
	permanentKey = attribute.Key("latchkey.permanent")
)

// Send hands m to the provider within a span. A failure is marked an
// error without the provider's text, which may quote the address.
func (s tracedSender) Send(ctx context.Context, m latchkey.Message) error {
	ctx, span := s.t.tracer.Start(ctx, "deliver "+string(m.Channel), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(channelKey.String(string(m.Channel)), providerKey.String(s.Name()),
			messageIDKey.String(m.ID), attemptKey.Int(m.Attempts+1)))
	defer span.End()
	err := s.Sender.Send(ctx, m)
	if err != nil {
		span.SetStatus(codes.Error, "the provider did not take the message")
		span.SetAttributes(permanentKey.Bool(delivery.IsPermanent(err)))
	}
	return err
}

// LogHandler adds the trace and span IDs (trace_id, span_id) to every
// record logged in a traced context, so that a request's log lines lead
// to its trace.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }
