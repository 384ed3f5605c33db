package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/apps"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/fake"
	"github.com/latchkeyhq/latchkey/httpapi"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/oauth2"
	"github.com/latchkeyhq/latchkey/ratelimit"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/sessions"
	"github.com/latchkeyhq/latchkey/storehook"
	"github.com/latchkeyhq/latchkey/token"
	"github.com/latchkeyhq/latchkey/users"
)

// harness is a real Latchkey HTTP handler on a real SQLite file, served by
// httptest, with a settable clock and the dev inbox as its delivery.
type harness struct {
	t       testing.TB
	srv     *httptest.Server
	store   latchkey.Store
	clock   *fake.Clock
	apps    *apps.Service
	keys    *token.Keys
	issuer  *token.Issuer
	outbox  *delivery.Worker
	keyring *secrets.Keyring
	logs    *bytes.Buffer
	path    string // the SQLite file, or the PostgreSQL schema
	deps    httpapi.Deps
	served  []string // the patterns of the routes served, as openapi.json names operations
	// demo is the dev mode demo app, when the options ask for one.
	demo *client
}

// harnessOptions vary the harness.
type harnessOptions struct {
	noDelivery bool // no provider: as a server outside dev mode
	demoApp    bool // a dev mode demo app, whose magic links land on /dev/complete
	// senders replace the dev inbox as the providers of these channels.
	senders map[latchkey.Channel][]delivery.Sender
	// trustedProxies may set X-Forwarded-For (LATCHKEY_TRUSTED_PROXIES).
	trustedProxies []netip.Prefix
	// refused is told of every rate-limit refusal.
	refused     func(appID string, limit ratelimit.Limit)
	draining    <-chan struct{} // closed: the server is stopping
	maxInFlight int             // the bound on requests in flight; 0: the default
	// busy is told of every request refused over that bound.
	busy func(bound string)
	// observer is told how every send and authentication ended.
	observer login.Observer
	// telemetry, when set, attaches to every seam: the store's hooks,
	// the observers, the providers and the handler.
	telemetry *telemetry
}

// telemetry is what a server's metrics and traces attach to the parts
// (cmd/latchkey wires the real ones the same way).
type telemetry struct {
	storeHooks []storehook.Hook
	observer   login.Observer
	recorded   func(latchkey.Message)
	refused    func(appID string, limit ratelimit.Limit)
	busy       func(bound string)
	sender     func(delivery.Sender) delivery.Sender
	middleware func(http.Handler) http.Handler
}

func newHarness(t testing.TB) *harness { return newHarnessWith(t, harnessOptions{}) }

func newHarnessWith(t testing.TB, opts harnessOptions) *harness {
	t.Helper()
	clock := fake.NewClock(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	store, path := openTestStore(t, clock.Now())
	tel := opts.telemetry
	if tel != nil {
		store = storehook.Wrap(store, tel.storeHooks...)
		opts.observer, opts.refused, opts.busy = tel.observer, tel.refused, tel.busy
	}
	keyring, err := secrets.New(rand.Reader, []byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, clock: clock, keyring: keyring, logs: &bytes.Buffer{}, path: path}
	h.srv = httptest.NewUnstartedServer(nil)
	publicURL := "http://" + h.srv.Listener.Addr().String()
	h.keys, err = token.NewKeys(token.KeysConfig{Store: store, Keyring: keyring, Algorithm: token.RS256, Now: clock.Now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	tenant, err := store.TenantID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.issuer = token.NewIssuer(h.keys, publicURL+"/cis/oidc", clock.Now)
	h.apps = apps.NewService(store, keyring, clock.Now, rand.Reader)
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	senders := map[latchkey.Channel][]delivery.Sender{}
	var devInbox latchkey.DevInboxStore
	if !opts.noDelivery {
		inbox := delivery.DevInbox{Store: store, Rand: rand.Reader}
		senders[latchkey.ChannelEmail], senders[latchkey.ChannelSMS] = []delivery.Sender{inbox}, []delivery.Sender{inbox}
		devInbox = store
	}
	for ch, list := range opts.senders {
		senders[ch] = list
	}
	var recorded func(latchkey.Message)
	if tel != nil {
		for ch, list := range senders {
			senders[ch] = nil
			for _, s := range list {
				senders[ch] = append(senders[ch], tel.sender(s))
			}
		}
		recorded = tel.recorded
	}
	h.outbox = delivery.NewWorker(delivery.WorkerConfig{Store: store, Senders: senders, Log: log, Now: clock.Now, Rand: rand.Reader,
		Keyring: keyring, Recorded: recorded})
	userService := users.NewService(store, clock.Now, rand.Reader)
	sess := sessions.New(sessions.Config{Store: store, Keyring: keyring, Issuer: h.issuer, TenantID: tenant, Now: clock.Now, Rand: rand.Reader})
	limiter := ratelimit.New(ratelimit.Config{Store: store, Keyring: keyring, Log: log, Now: clock.Now,
		Refused: opts.refused})
	loginService := login.New(login.Config{Store: store, Users: userService, Sessions: sess, Keyring: keyring,
		Delivery: h.outbox, Limiter: limiter, Observer: opts.observer, PublicURL: publicURL, Now: clock.Now, Rand: rand.Reader})
	oauth := oauth2.NewServer(oauth2.Config{Apps: h.apps, Store: store, Issuer: h.issuer, TenantID: tenant,
		Now: clock.Now, Rand: rand.Reader, ClientTokenTTL: time.Hour, Sessions: sess, Limiter: limiter})
	deps := httpapi.Deps{
		Log: log, Store: store, OAuth: oauth, Issuer: h.issuer, Users: userService, Login: loginService,
		Sessions: sess, DevInbox: devInbox, PublicURL: publicURL, Now: clock.Now, Rand: rand.Reader,
		TrustedProxies: opts.trustedProxies, Draining: opts.draining, MaxInFlight: opts.maxInFlight, Busy: opts.busy,
	}
	if opts.demoApp {
		app, creds, err := h.apps.Create(ctx, apps.NewApp{Name: "Demo app", RedirectURIs: []string{publicURL + httpapi.DevCompletePath}})
		if err != nil {
			t.Fatal(err)
		}
		h.demo, deps.DevAppID = &client{h: h, app: app, creds: creds}, app.ID
	}
	h.deps, h.served = deps, httpapi.RoutePatterns(deps)
	h.srv.Config.Handler = httpapi.NewHandler(deps)
	if tel != nil {
		h.srv.Config.Handler = tel.middleware(h.srv.Config.Handler)
	}
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	if h.demo != nil {
		h.demo.token = h.demo.clientToken()
	}
	return h
}

// client is one registered app and its credentials.
type client struct {
	h     *harness
	app   latchkey.App
	creds apps.Credentials
	token string
}

func (h *harness) newClient(name string, management bool, resources ...string) *client {
	h.t.Helper()
	app, creds, err := h.apps.Create(context.Background(), apps.NewApp{Name: name, Management: management,
		RedirectURIs: []string{"http://localhost:8080/complete"}, Resources: resources})
	if err != nil {
		h.t.Fatal(err)
	}
	c := &client{h: h, app: app, creds: creds}
	c.token = c.clientToken()
	return c
}

// update changes the client's app and waits out the API's cache of apps.
func (c *client) update(change func(*appT)) {
	c.h.t.Helper()
	app, err := c.h.apps.Update(context.Background(), c.app.ID, change)
	if err != nil {
		c.h.t.Fatalf("update the app: %v", err)
	}
	c.app = app
	c.h.clock.Advance(appChangeDelay)
}

// withoutSendLimits turns off the limits on sends to one destination or
// user, for a test about something else that sends to one user in quick
// succession.
func (c *client) withoutSendLimits() *client {
	c.h.t.Helper()
	c.update(func(a *appT) { a.Limits.ResendCooldown, a.Limits.SendsPerHour, a.Limits.SendsPerDay = 0, 0, 0 })
	return c
}

// clientToken gets a client access token with client_secret_post.
func (c *client) clientToken() string {
	c.h.t.Helper()
	resp := c.h.postForm("/oidc/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {c.creds.ClientID}, "client_secret": {c.creds.ClientSecret}}, nil)
	if resp.status != http.StatusOK {
		c.h.t.Fatalf("client token: %d %s", resp.status, resp.body)
	}
	return resp.json()["access_token"].(string)
}

// response is a captured HTTP response.
type response struct {
	t      testing.TB
	status int
	header http.Header
	body   []byte
}

func (r response) json() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends req and checks the response, and the request when the server
// accepts it, against openapi.json, so that every test enforces the
// description. Redirects are not followed: the response checked is the
// answer to req. It may be called from any goroutine (the race tests do): a
// failure is reported with Errorf, never Fatal, and a transport failure
// answers status 0, which no test expects.
func (h *harness) do(req *http.Request) response {
	h.t.Helper()
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			h.t.Errorf("%s %s: read the request body: %v", req.Method, req.URL.Path, err)
			return response{t: h.t, header: http.Header{}}
		}
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		h.t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return response{t: h.t, header: http.Header{}}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Errorf("%s %s: read the body: %v", req.Method, req.URL.Path, err)
		return response{t: h.t, header: http.Header{}}
	}
	out := response{t: h.t, status: resp.StatusCode, header: resp.Header, body: body}
	h.checkDescription(exchange{req: req, reqBody: reqBody, resp: out})
	return out
}

// noRedirects is the tests' HTTP client: it returns redirects as they are.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (h *harness) postForm(path string, form url.Values, edit func(*http.Request)) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if edit != nil {
		edit(req)
	}
	return h.do(req)
}

// call sends a JSON request with the client's bearer token. body may be a
// string (sent as is) or any value (encoded as JSON).
func (c *client) call(method, path string, body any) response {
	c.h.t.Helper()
	return c.h.callWith(c.token, method, path, body)
}

func (h *harness) callWith(token, method, path string, body any) response {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Errorf("encode the request body: %v", err)
			return response{t: h.t, header: http.Header{}}
		}
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return h.do(req)
}

// wantStatus fails the test unless the response has the status and, when
// it is an error, a JSON body with a message.
func (r response) wantStatus(status int) response {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if status >= 400 {
		m := r.json()
		if m["message"] == nil || m["message"] == "" {
			r.t.Fatalf("error body %s has no message", r.body)
		}
	}
	return r
}

// deliver runs the outbox worker once, as the server's worker would.
func (h *harness) deliver() {
	h.t.Helper()
	if _, err := h.outbox.RunOnce(context.Background()); err != nil {
		h.t.Fatalf("outbox: %v", err)
	}
}

// inbox returns the dev inbox, newest first, after delivering what is due.
func (h *harness) inbox() []map[string]any {
	h.t.Helper()
	h.deliver()
	resp := h.callWith("", http.MethodGet, "/dev/inbox/messages", nil).wantStatus(http.StatusOK)
	var list []map[string]any
	if err := json.Unmarshal(resp.body, &list); err != nil {
		h.t.Fatalf("dev inbox JSON: %v", err)
	}
	return list
}

// inboxTo returns the dev inbox messages to one address, through ?to=.
func (h *harness) inboxTo(to string) []map[string]any {
	h.t.Helper()
	h.deliver()
	resp := h.callWith("", http.MethodGet, "/dev/inbox/messages?limit=5&to="+url.QueryEscape(to), nil).wantStatus(http.StatusOK)
	var list []map[string]any
	if err := json.Unmarshal(resp.body, &list); err != nil {
		h.t.Fatalf("dev inbox JSON: %v", err)
	}
	return list
}

// lastCode delivers the outbox and returns the passcode in the newest
// message to "to".
func (h *harness) lastCode(to string) string {
	h.t.Helper()
	for _, m := range h.inboxTo(to) {
		if m["to"] != to {
			h.t.Fatalf("?to=%s returned a message to %v", to, m["to"])
		}
		if code := passcodePattern.FindString(m["text"].(string)); code != "" {
			return code
		}
	}
	h.t.Fatalf("no code for %s in the dev inbox", to)
	return ""
}

// lastLink returns the magic link in the newest message to "to".
func (h *harness) lastLink(to string) string {
	h.t.Helper()
	for _, m := range h.inbox() {
		if m["to"] == to {
			if link := linkPattern.FindString(m["text"].(string)); link != "" {
				return link
			}
		}
	}
	h.t.Fatalf("no link for %s in the dev inbox", to)
	return ""
}

var (
	passcodePattern = regexp.MustCompile(`\b\d{4,8}\b`)
	linkPattern     = regexp.MustCompile(`https?://\S+`)
)

// appT shortens latchkey.App in update closures.
type appT = latchkey.App

var jsonUnmarshal = json.Unmarshal

// dumpTables returns every value of every table but the dev inbox (which
// keeps delivered messages by design), read straight from the database.
func (h *harness) dumpTables() string {
	h.t.Helper()
	if postgresURL() != "" {
		return dumpPostgres(h.t, h.path)
	}
	db, err := sql.Open("sqlite", "file:"+h.path+"?mode=ro")
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	return dumpSQL(h.t, db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'dev_messages'", "")
}

// dumpSQL lists tables with listQuery and returns all their values.
func dumpSQL(t testing.TB, db *sql.DB, listQuery, prefix string) string {
	t.Helper()
	rows, err := db.Query(listQuery)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("no tables to dump")
	}
	var dump strings.Builder
	for _, table := range tables {
		dumpTable(t, db, prefix+table, &dump)
	}
	return dump.String()
}

// dumpTable writes every value of table to dump, one per line. A value that
// cannot be read fails the test: a missed value could hide a secret.
func dumpTable(t testing.TB, db *sql.DB, table string, dump *strings.Builder) {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for _, v := range vals {
			fmt.Fprintf(dump, "%s\n", v)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", table, err)
	}
}

// appChangeDelay is how long a change to an app may take to reach the API,
// which caches apps for two seconds.
const appChangeDelay = 2 * time.Second

// nonEmptyString reports whether a decoded JSON value is a string with
// something in it; a missing member (nil) is not.
func nonEmptyString(v any) bool {
	s, ok := v.(string)
	return ok && s != ""
}
