package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// receivedSpan is a span as an OTLP receiver decoded it.
type receivedSpan struct {
	trace, id, parent, name string
	kind                    tracepb.Span_SpanKind
	attrs                   map[string]string
	failed                  bool
}

// otlpReceiver is an OTLP/HTTP trace receiver, as a collector serves it at
// /v1/traces: it decodes the protobuf export requests and keeps every span.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []receivedSpan
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(r.export))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) export(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a POST of protobuf to /v1/traces", http.StatusBadRequest)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	var export collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(raw, &export)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.keep(&export)
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *otlpReceiver) keep(export *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range export.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, kv := range append(rs.GetResource().GetAttributes(), s.GetAttributes()...) {
					attrs[kv.GetKey()] = anyValue(kv.GetValue().GetStringValue(), kv.GetValue().GetIntValue())
				}
				r.spans = append(r.spans, receivedSpan{trace: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()),
					parent: hex.EncodeToString(s.GetParentSpanId()), name: s.GetName(), kind: s.GetKind(), attrs: attrs,
					failed: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR})
			}
		}
	}
}

func anyValue(s string, i int64) string {
	if s != "" {
		return s
	}
	b, _ := json.Marshal(i)
	return string(b)
}

// all returns the spans received so far.
func (r *otlpReceiver) all() []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedSpan(nil), r.spans...)
}

// named returns the received spans named name in trace (any trace when
// "").
func (r *otlpReceiver) named(trace, name string) []receivedSpan {
	var out []receivedSpan
	for _, s := range r.all() {
		if s.name == name && (trace == "" || s.trace == trace) {
			out = append(out, s)
		}
	}
	return out
}

// TestTracesOfALogin runs a passcode login against a node that exports
// traces to a real OTLP/HTTP receiver, each request carrying a W3C
// traceparent: the receiver gets a server span per request, named by its
// route, in the caller's trace and under the caller's span, with the
// request's store calls as its children; the message's delivery, handed
// by the send to its node's worker, is a child of the send's span; every log line of the
// request carries its trace ID; and no span holds the address, the code
// or a token.
func TestTracesOfALogin(t *testing.T) {
	receiver := newOTLPReceiver(t)
	c := newSQLiteCluster(t)
	cr := c.createApp(c.dbURL)
	n := c.startWith(c.dbURL, "OTEL_EXPORTER_OTLP_ENDPOINT="+receiver.URL, "OTEL_BSP_SCHEDULE_DELAY=100")
	cl := newClient(t)
	cl.token = cl.clientToken(n.url, cr)
	const email = "traced@example.com"
	cl.must(cl.post(n.url+"/cis/v1/users", map[string]any{"email": email}), http.StatusCreated)

	const sendTrace, authTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c", "00f067aa0ba902b7"
	traced := func(trace string) map[string]string {
		return map[string]string{"traceparent": "00-" + trace + "-" + callerSpan + "-01"}
	}
	cl.must(cl.do(http.MethodPost, n.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": email,
		"identifier_type": "email"}, traced(sendTrace)), http.StatusOK)
	code := waitForCode(t, cl, n.url, email)
	tokens := cl.must(cl.do(http.MethodPost, n.url+"/cis/v1/auth/otp/authenticate", map[string]any{"passcode": code,
		"identifier": email, "identifier_type": "email"}, traced(authTrace)), http.StatusOK)

	const authRoute = "POST /cis/v1/auth/otp/authenticate"
	eventually(t, "the spans of the login and of its delivery", func() bool {
		return len(receiver.named(authTrace, authRoute)) == 1 && len(receiver.named(sendTrace, "POST /cis/v1/auth/otp/send")) == 1 &&
			len(receiver.named("", "deliver email")) == 1
	})
	auth := receiver.named(authTrace, authRoute)[0]
	if auth.parent != callerSpan || auth.kind != tracepb.Span_SPAN_KIND_SERVER || auth.attrs["http.route"] != "/cis/v1/auth/otp/authenticate" ||
		auth.attrs["http.response.status_code"] != "200" || auth.attrs["service.name"] != "latchkey" {
		t.Errorf("the authenticate request's span: %+v; want a server span under the caller's, with its route and status", auth)
	}
	wantChildren(t, receiver, auth, "store.AttemptChallenge")

	send := receiver.named(sendTrace, "POST /cis/v1/auth/otp/send")[0]
	deliver := receiver.named("", "deliver email")[0]
	if deliver.trace != sendTrace || deliver.parent != send.id || deliver.attrs["latchkey.provider"] != "devinbox" {
		t.Errorf("the delivery's span: %+v; want a child of the send's span %s (the send handed its message to the worker), naming the provider",
			deliver, send.id)
	}
	wantChildren(t, receiver, deliver, "store.AddDevMessage")

	wantTraceOnLogLines(t, n, authRoute, authTrace)

	// A send refused by the resend cooldown: the limiter's warning is a
	// line of the request too.
	const refusedTrace = "5b8efff798038103d269b633813fc60c"
	cl.must(cl.do(http.MethodPost, n.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": email,
		"identifier_type": "email"}, traced(refusedTrace)), http.StatusTooManyRequests)
	wantLinesOfTrace(t, n, refusedTrace, "rate limited", "request")
	wantNoSecrets(t, receiver, email, code, cl.token, tokens["access_token"].(string), tokens["id_token"].(string),
		tokens["refresh_token"].(string), tokens["session_id"].(string))
}

// wantTraceOnLogLines fails unless every line the node logged for a
// request to route (its access log line at least) carries trace.
func wantTraceOnLogLines(t *testing.T, n *node, route, trace string) {
	t.Helper()
	lines := 0
	for _, line := range strings.Split(n.logs.String(), "\n") {
		var entry struct {
			Route   string `json:"route"`
			TraceID string `json:"trace_id"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Route != route {
			continue
		}
		lines++
		if entry.TraceID != trace {
			t.Errorf("a log line of the request to %s carries the trace ID %q; want %s: %s", route, entry.TraceID, trace, line)
		}
	}
	if lines == 0 {
		t.Errorf("no log line of the request to %s was found", route)
	}
}

// wantLinesOfTrace waits until the node has logged a line with each of
// msgs carrying trace: a request's line is written once its answer is.
func wantLinesOfTrace(t *testing.T, n *node, trace string, msgs ...string) {
	t.Helper()
	logged := func() map[string]bool {
		out := map[string]bool{}
		for _, line := range strings.Split(n.logs.String(), "\n") {
			var entry struct {
				Msg     string `json:"msg"`
				TraceID string `json:"trace_id"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.TraceID == trace {
				out[entry.Msg] = true
			}
		}
		return out
	}
	all := func() bool {
		got := logged()
		for _, msg := range msgs {
			if !got[msg] {
				return false
			}
		}
		return true
	}
	if !waitFor(all) {
		t.Errorf("the lines carrying the trace ID %s are %v; want %q among them", trace, logged(), msgs)
	}
}

// wantNoSecrets fails if any attribute of any span received holds one of
// secrets.
func wantNoSecrets(t *testing.T, r *otlpReceiver, secrets ...string) {
	t.Helper()
	for _, s := range r.all() {
		for k, v := range s.attrs {
			for _, secret := range secrets {
				if strings.Contains(v, secret) {
					t.Errorf("the span %q holds %s=%q, which the login handled", s.name, k, v)
				}
			}
		}
	}
}

// wantChildren fails unless the received spans include a child of parent
// named each of names, in its trace.
func wantChildren(t *testing.T, r *otlpReceiver, parent receivedSpan, names ...string) {
	t.Helper()
	for _, name := range names {
		found := false
		for _, s := range r.named(parent.trace, name) {
			found = found || s.parent == parent.id
		}
		if !found {
			var got []string
			for _, s := range r.all() {
				if s.parent == parent.id {
					got = append(got, s.name)
				}
			}
			t.Errorf("the span %q has no child %q; its children: %q", parent.name, name, got)
		}
	}
}
