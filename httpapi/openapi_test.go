package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/latchkeyhq/latchkey/httpapi"
)

// description is openapi.json, loaded and checked once per test binary,
// with the router that finds each request's operation in it.
type description struct {
	doc    *openapi3.T
	router routers.Router
}

var loadDescription = sync.OnceValues(func() (*description, error) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI 3.1 document: %w", err)
	}
	// The document's server is a variable (LATCHKEY_PUBLIC_URL); the tests'
	// servers listen on random ports, so operations are found by path alone.
	routed := *doc
	routed.Servers = nil
	router, err := gorillamux.NewRouter(&routed)
	if err != nil {
		return nil, fmt.Errorf("route openapi.json: %w", err)
	}
	return &description{doc: doc, router: router}, nil
})

// mustDescription returns the loaded description, failing t when it does
// not load or is not valid OpenAPI 3.1.
func mustDescription(t testing.TB) *description {
	t.Helper()
	d, err := loadDescription()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// exchange is one request the tests sent and the response they got.
type exchange struct {
	req     *http.Request
	reqBody []byte
	resp    response
}

// check returns why the exchange with a server serving the routes in
// served disagrees with the description, or nil. Every response must be
// one the description gives for its operation and status: headers, media
// type and body. A request is checked too when the server accepted it (a
// status below 400), since the tests send invalid requests on purpose to
// see them refused: a request the server accepts must be one the
// description allows. A request to no operation the server serves (none
// described, or a dev-mode one outside dev mode) must get the JSON 404 or
// 405 of an unserved path or method.
func (d *description) check(x exchange, served []string) (err error) {
	routeReq := x.req.Clone(context.Background())
	if routeReq.Method == http.MethodHead {
		routeReq.Method = http.MethodGet // Go's mux serves HEAD with GET's handler
	}
	route, params, err := d.router.FindRoute(routeReq)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		return d.checkUnserved(x)
	}
	if err != nil {
		return err
	}
	if !slices.Contains(served, routeReq.Method+" "+route.Path) {
		return d.checkUnserved(x)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("route %s %s: %w", routeReq.Method, route.Path, err)
		}
	}()
	input := &openapi3filter.RequestValidationInput{Request: withBody(x.req, x.reqBody), PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: presentedCredentials, IncludeResponseStatus: true, MultiError: true}}
	if x.resp.status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), input); err != nil {
			return fmt.Errorf("the server accepted (%d) a request the description does not allow: %w", x.resp.status, err)
		}
		input.Request = withBody(x.req, x.reqBody)
	}
	if x.req.Method == http.MethodHead {
		if route.Operation.Responses.Status(x.resp.status) == nil {
			return fmt.Errorf("status %d is not described", x.resp.status)
		}
		return nil
	}
	if err := checkEmptyBody(route.Operation, x.resp); err != nil {
		return err
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: input, Status: x.resp.status,
		Header: x.resp.header, Options: input.Options}
	out.SetBodyBytes(x.resp.body)
	return openapi3filter.ValidateResponse(context.Background(), out)
}

// checkEmptyBody fails a response with a body where the description gives
// none (a 204, the revocation's 200), which the validator lets through.
func checkEmptyBody(op *openapi3.Operation, resp response) error {
	ref := op.Responses.Status(resp.status)
	if ref == nil || ref.Value == nil || len(ref.Value.Content) > 0 || len(resp.body) == 0 {
		return nil
	}
	return fmt.Errorf("status %d has a body (%q) but the description gives none", resp.status, resp.body)
}

// checkUnserved checks the answer to a path or method Latchkey does not
// serve: 404 or 405, in the plain error shape.
func (d *description) checkUnserved(x exchange) error {
	if x.resp.status != http.StatusNotFound && x.resp.status != http.StatusMethodNotAllowed {
		return fmt.Errorf("no operation is described for %s %s, yet the server answered %d", x.req.Method, x.req.URL.Path, x.resp.status)
	}
	var body any
	if err := json.Unmarshal(x.resp.body, &body); err != nil {
		return fmt.Errorf("the %d of an unserved path is not JSON: %w", x.resp.status, err)
	}
	return d.doc.Components.Schemas["HttpError"].Value.VisitJSON(body, openapi3.EnableJSONSchema2020())
}

// presentedCredentials accepts a request that presents credentials of the
// scheme's kind; whether they are good is the server's business.
func presentedCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r, scheme := in.RequestValidationInput.Request, in.SecurityScheme
	switch {
	case scheme.Type == "http" && scheme.Scheme == "bearer":
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			return errors.New("no bearer token")
		}
	case scheme.Type == "http" && scheme.Scheme == "basic":
		if _, _, ok := r.BasicAuth(); !ok {
			return errors.New("no HTTP Basic credentials")
		}
	default:
		return fmt.Errorf("security scheme %s is not checked by the tests", in.SecuritySchemeName)
	}
	return nil
}

// withBody returns a copy of r that will read body.
func withBody(r *http.Request, body []byte) *http.Request {
	c := r.Clone(context.Background())
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.ContentLength = int64(len(body))
	return c
}

// checkDescription fails the test when the exchange disagrees with the
// description, naming the request, its route, the status and the reason.
// Errorf, not Fatal: do may run on any goroutine.
func (h *harness) checkDescription(x exchange) {
	h.t.Helper()
	d, err := loadDescription()
	if err == nil {
		err = d.check(x, h.served)
	}
	if err != nil {
		h.t.Errorf("%s %s answered %d, which openapi.json does not describe: %v\nbody: %s",
			x.req.Method, x.req.URL.Path, x.resp.status, err, x.resp.body)
	}
}

// operations lists the description's operations as "METHOD /path", those
// marked dev-only apart.
func (d *description) operations() (all, devOnly []string) {
	for path, item := range d.doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			all = append(all, key)
			if op.Extensions["x-latchkey-dev-only"] == true {
				devOnly = append(devOnly, key)
			}
		}
	}
	slices.Sort(all)
	slices.Sort(devOnly)
	return all, devOnly
}

// TestDescriptionCoversEveryRoute fails when routes.go serves a route that
// openapi.json does not describe, or openapi.json describes one that is
// not served; in dev mode with the demo app every described operation is
// served, outside dev mode exactly those not marked x-latchkey-dev-only.
func TestDescriptionCoversEveryRoute(t *testing.T) {
	d := mustDescription(t)
	all, devOnly := d.operations()
	withoutDev := slices.DeleteFunc(slices.Clone(all), func(op string) bool { return slices.Contains(devOnly, op) })
	for _, tc := range []struct {
		name string
		opts harnessOptions
		want []string
	}{
		{"dev mode", harnessOptions{demoApp: true}, all},
		{"serve", harnessOptions{noDelivery: true}, withoutDev},
	} {
		t.Run(tc.name, func(t *testing.T) {
			served := httpapi.RoutePatterns(newHarnessWith(t, tc.opts).deps)
			slices.Sort(served)
			for _, route := range served {
				if !slices.Contains(tc.want, route) {
					t.Errorf("routes.go serves %q, which openapi.json does not describe", route)
				}
			}
			for _, op := range tc.want {
				if !slices.Contains(served, op) {
					t.Errorf("openapi.json describes %q, which routes.go does not serve here", op)
				}
			}
		})
	}
}

// TestDescriptionIsServed checks GET /openapi.json: the document itself,
// public and cacheable.
func TestDescriptionIsServed(t *testing.T) {
	h := newHarness(t)
	want, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp := h.callWith("", http.MethodGet, "/openapi.json", nil).wantStatus(http.StatusOK)
	if !bytes.Equal(resp.body, want) {
		t.Fatal("GET /openapi.json is not openapi.json")
	}
	if ct, cc := resp.header.Get("Content-Type"), resp.header.Get("Cache-Control"); ct != "application/json" || !strings.HasPrefix(cc, "public") {
		t.Fatalf("Content-Type %q, Cache-Control %q; want application/json, public", ct, cc)
	}
	if doc := resp.json(); doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v; want 3.1.0", doc["openapi"])
	}
}

// TestDescriptionIsConsistent holds the description to its own rules, so
// that a new operation cannot forget them: every response names
// X-Request-Id, every operation answers 500, every /cis/v1 operation
// answers 401 Invalid token, and every 429 carries Retry-After.
func TestDescriptionIsConsistent(t *testing.T) {
	d := mustDescription(t)
	for path, item := range d.doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.Responses.Status(http.StatusInternalServerError) == nil {
				t.Errorf("%s: no 500", where)
			}
			if strings.HasPrefix(path, "/cis/v1/") && op.Responses.Status(http.StatusUnauthorized).Ref != "#/components/responses/InvalidToken" {
				t.Errorf("%s: 401 is not InvalidToken", where)
			}
			for status, ref := range op.Responses.Map() {
				if ref.Value.Headers["X-Request-Id"] == nil {
					t.Errorf("%s: %s does not name X-Request-Id", where, status)
				}
				if status == "429" && (ref.Value.Headers["Retry-After"] == nil || !ref.Value.Headers["Retry-After"].Value.Required) {
					t.Errorf("%s: 429 without a required Retry-After", where)
				}
			}
		}
	}
}

// TestEveryOperationAnswersInItsFamilysShape drives every operation into
// the answers each endpoint family shares, so that the harness checks each
// against the description: 401 without a client access token, 413 for a
// body over the caps, and 5xx once the database has gone (on the routes
// that need it). Each request is the operation's example in openapi.json.
func TestEveryOperationAnswersInItsFamilysShape(t *testing.T) {
	d := mustDescription(t)
	h := newHarnessWith(t, harnessOptions{demoApp: true})
	c := h.newClient("Shapes", true)
	ops := d.exampleRequests(t, h, c)
	for _, x := range ops {
		if x.bearer {
			h.do(x.build(h, "", x.body)).wantStatus(http.StatusUnauthorized)
		}
		if x.op.RequestBody != nil && x.op.Responses.Status(http.StatusRequestEntityTooLarge) != nil {
			h.do(x.build(h, c.token, oversized(x.mediaType))).wantStatus(http.StatusRequestEntityTooLarge)
		}
	}
	h.store.Close() // the client token and its app stay cached
	for _, x := range ops {
		resp := h.do(x.build(h, c.token, x.body))
		if resp.status < 500 && !storeFree[x.op.OperationID] {
			t.Errorf("%s %s without a database: %d %s; want a 5xx", x.method, x.path, resp.status, resp.body)
		}
	}
}

// storeFree are the operations that answer from memory, without the database.
var storeFree = map[string]bool{"healthz": true, "getOpenAPIDescription": true, "oidcGetKeys": true, "getOidcConfiguration": true}

// exampleRequest is an operation's example request.
type exampleRequest struct {
	op                      *openapi3.Operation
	method, path, mediaType string
	target                  string // the path and query, with examples for parameters
	body                    []byte
	bearer                  bool // it takes a client access token
}

// exampleRequests returns the example request of every operation the
// harness serves, with c's credentials in the form bodies that carry
// client credentials.
func (d *description) exampleRequests(t *testing.T, h *harness, c *client) []exampleRequest {
	t.Helper()
	var out []exampleRequest
	for path, item := range d.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !slices.Contains(h.served, method+" "+path) {
				continue
			}
			x := exampleRequest{op: op, method: method, path: path, target: path}
			query := url.Values{}
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				value := fmt.Sprint(p.Value.Example)
				switch {
				case p.Value.In == "path":
					x.target = strings.ReplaceAll(x.target, "{"+p.Value.Name+"}", url.PathEscape(value))
				case p.Value.In == "query" && p.Value.Required:
					query.Set(p.Value.Name, value)
				}
			}
			if len(query) > 0 {
				x.target += "?" + query.Encode()
			}
			for _, req := range *op.Security {
				_, client := req["ClientAccessToken"]
				_, admin := req["AdminAccessToken"]
				x.bearer = x.bearer || client || admin
			}
			if op.RequestBody != nil {
				x.mediaType, x.body = exampleBody(t, op, c)
			}
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b exampleRequest) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	return out
}

// exampleBody encodes an operation's request body example in its media
// type.
func exampleBody(t *testing.T, op *openapi3.Operation, c *client) (string, []byte) {
	t.Helper()
	for mediaType, content := range op.RequestBody.Value.Content {
		example, ok := content.Example.(map[string]any)
		if !ok {
			t.Fatalf("%s: no example request body", op.OperationID)
		}
		if mediaType == "application/json" {
			raw, err := json.Marshal(example)
			if err != nil {
				t.Fatal(err)
			}
			return mediaType, raw
		}
		form := url.Values{}
		for k, v := range example {
			form.Set(k, fmt.Sprint(v))
		}
		if form.Has("client_id") {
			form.Set("client_id", c.creds.ClientID)
			form.Set("client_secret", c.creds.ClientSecret)
		}
		return mediaType, []byte(form.Encode())
	}
	t.Fatalf("%s: a request body without content", op.OperationID)
	return "", nil
}

// build makes the request, with token as its bearer token when the
// operation takes one and token is not empty. It comes from the server's
// own origin, as the dev pages' forms do.
func (x exampleRequest) build(h *harness, token string, body []byte) *http.Request {
	req, _ := http.NewRequest(x.method, h.srv.URL+x.target, bytes.NewReader(body))
	if x.mediaType != "" {
		req.Header.Set("Content-Type", x.mediaType)
	}
	if x.bearer && token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Origin", h.srv.URL)
	return req
}

// oversized is a body over every cap (1 MiB), in the media type.
func oversized(mediaType string) []byte {
	filler := strings.Repeat("a", 1<<20)
	if mediaType == "application/json" {
		return []byte(`{"custom_data":{"x":"` + filler + `"}}`)
	}
	return []byte("padding=" + filler)
}
