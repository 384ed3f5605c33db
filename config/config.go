// Package config reads Latchkey's configuration from environment variables.
// Every variable is declared once, in Vars, with its default and meaning, so
// that `latchkey serve --help` and the README list the same set. Load checks
// every value and reports each bad one on its own line, naming the variable
// and what it accepts.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Var documents one environment variable.
type Var struct {
	Name    string
	Default string
	Help    string
}

// Vars lists every variable Latchkey reads, in the order the help shows them.
var Vars = append(append(append([]Var{}, coreVars...), deliveryVars...), telemetryVars...)

// coreVars are the variables of the server itself.
var coreVars = []Var{
	{"LATCHKEY_ADDR", "127.0.0.1:7080", "listen address (host:port)"},
	{"LATCHKEY_DATABASE_URL", "sqlite:latchkey.db", "sqlite:PATH, or postgres://... for PostgreSQL"},
	{"LATCHKEY_PUBLIC_URL", "http://<LATCHKEY_ADDR>", "base URL that users and apps reach Latchkey at; used in links and the issuer"},
	{"LATCHKEY_ISSUER", "<LATCHKEY_PUBLIC_URL>/cis/oidc", "the \"iss\" of every token; discovery is served under it"},
	{"LATCHKEY_SIGNING_ALG", "RS256", "JWT signing algorithm of new keys: RS256, ES256 or EdDSA"},
	{"LATCHKEY_DEV", "false", "dev mode: dev inbox delivery and the demo app (true or false)"},
	{"LATCHKEY_SECRET", "(a file beside a SQLite database)", "server secret, at least 32 bytes: keys the hashes of codes, tokens and client secrets, and seals signing keys"},
	{"LATCHKEY_PREVIOUS_SECRETS", "", "comma-separated earlier secrets, still accepted after LATCHKEY_SECRET is rotated"},
	{"LATCHKEY_CLIENT_TOKEN_TTL", "1h", "lifetime of client access tokens (1m to 24h)"},
	{"LATCHKEY_KEY_REFRESH", "30s", "how often a node reloads signing keys, so a rotation elsewhere reaches it (1s to 10m)"},
	{"LATCHKEY_SQLITE_SYNCHRONOUS", "NORMAL", "SQLite durability: NORMAL survives a killed process, FULL also a power loss"},
	{"LATCHKEY_DB_MAX_CONNS", "0", "PostgreSQL pool size per node (0: 4 per CPU, at least 32)"},
	{"LATCHKEY_DB_CONNECT_TIMEOUT", "0s", "how long a PostgreSQL connection attempt may take (0s: the URL's connect_timeout, else 5s; at most 1m)"},
	{"LATCHKEY_DB_TIMEOUT", "5s", "how long any one database call may take, for a request or for background work, before it fails as unavailable (100ms to 1m)"},
	{"LATCHKEY_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"LATCHKEY_LOG_FORMAT", "text", "text or json"},
	{"LATCHKEY_DRAIN_DELAY", "5s", "how long a stopping server goes on serving, /readyz answering 503, before it stops accepting connections (0s to 5m; 0s in dev)"},
	{"LATCHKEY_SHUTDOWN_TIMEOUT", "15s", "how long a stopping server then waits for requests in flight and deliveries (1s to 5m)"},
	{"LATCHKEY_MAX_IN_FLIGHT", "0", "API requests served at once; more are refused at once with 503 and Retry-After, the probes aside (0: 128 per CPU, at least 256)"},
	{"LATCHKEY_RECORD_RETENTION", "1h", "how long delivered or failed outbox records and dev inbox messages are kept (1m to 720h)"},
	{"LATCHKEY_PPROF_ADDR", "", "when set, serve Go's profiler (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060"},
	{"LATCHKEY_TRUSTED_PROXIES", "", "comma-separated IPs or CIDRs of your load balancers: only from them is X-Forwarded-For believed as the client's address"},
}

// Config is the validated configuration.
type Config struct {
	Addr        string
	Database    Database
	PublicURL   string // no trailing slash
	Issuer      string
	SigningAlg  string
	Dev         bool
	Secret      []byte // nil when unset: the caller decides whether a file may stand in
	Previous    [][]byte
	ClientTTL   time.Duration
	KeyRefresh  time.Duration
	Synchronous string
	DBMaxConns  int
	DBConnect   time.Duration // a PostgreSQL connection attempt's bound; 0: the URL's, else the driver's
	DBTimeout   time.Duration // every database call's bound
	LogLevel    slog.Level
	LogJSON     bool
	DrainDelay  time.Duration
	Shutdown    time.Duration
	MaxInFlight int // 0: the HTTP layer's default, sized from the CPUs
	Delivery    Delivery
	PprofAddr   string
	// MetricsAddr, when set, is where /metrics is served.
	MetricsAddr string
	Tracing     Tracing
	Retention   time.Duration
	// TrustedProxies are the load balancers whose X-Forwarded-For gives
	// the client's address.
	TrustedProxies []netip.Prefix

	publicURLSet, issuerSet bool // whether the URLs were given or derived
}

// Database is a parsed LATCHKEY_DATABASE_URL.
type Database struct {
	Driver string // "sqlite" or "postgres"
	Path   string // SQLite file
	URL    string // the whole URL, for PostgreSQL
}

// MinSecretLength is the shortest accepted LATCHKEY_SECRET, in bytes.
const MinSecretLength = 32

// Load reads the configuration through getenv. The error, if any, holds one
// line per bad variable.
func Load(getenv func(string) string) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		Addr:        l.addr("LATCHKEY_ADDR"),
		Database:    l.database("LATCHKEY_DATABASE_URL"),
		SigningAlg:  l.oneOf("LATCHKEY_SIGNING_ALG", []string{"RS256", "ES256", "EdDSA"}),
		Dev:         l.boolean("LATCHKEY_DEV"),
		Secret:      l.secret("LATCHKEY_SECRET"),
		Previous:    l.previousSecrets("LATCHKEY_PREVIOUS_SECRETS"),
		ClientTTL:   l.duration("LATCHKEY_CLIENT_TOKEN_TTL", time.Minute, 24*time.Hour),
		KeyRefresh:  l.duration("LATCHKEY_KEY_REFRESH", time.Second, 10*time.Minute),
		Synchronous: l.oneOf("LATCHKEY_SQLITE_SYNCHRONOUS", []string{"NORMAL", "FULL"}),
		DBMaxConns:  l.integer("LATCHKEY_DB_MAX_CONNS", 0, 1000),
		DBConnect:   l.duration("LATCHKEY_DB_CONNECT_TIMEOUT", 0, time.Minute),
		DBTimeout:   l.duration("LATCHKEY_DB_TIMEOUT", 100*time.Millisecond, time.Minute),
		LogLevel:    l.level("LATCHKEY_LOG_LEVEL"),
		LogJSON:     l.oneOf("LATCHKEY_LOG_FORMAT", []string{"text", "json"}) == "json",
		DrainDelay:  l.duration("LATCHKEY_DRAIN_DELAY", 0, 5*time.Minute),
		Shutdown:    l.duration("LATCHKEY_SHUTDOWN_TIMEOUT", time.Second, 5*time.Minute),
		MaxInFlight: l.integer("LATCHKEY_MAX_IN_FLIGHT", 0, 1000000),
	}
	c.Delivery = l.delivery(c.Dev)
	c.Retention = l.duration("LATCHKEY_RECORD_RETENTION", time.Minute, 720*time.Hour)
	c.TrustedProxies = l.prefixes("LATCHKEY_TRUSTED_PROXIES")
	if v := strings.TrimSpace(getenv("LATCHKEY_PPROF_ADDR")); v != "" {
		c.PprofAddr = l.addr("LATCHKEY_PPROF_ADDR")
	}
	if v := strings.TrimSpace(getenv("LATCHKEY_METRICS_ADDR")); v != "" {
		c.MetricsAddr = l.addr("LATCHKEY_METRICS_ADDR")
	}
	c.Tracing = l.tracing()
	c.publicURLSet = strings.TrimSpace(getenv("LATCHKEY_PUBLIC_URL")) != ""
	c.issuerSet = strings.TrimSpace(getenv("LATCHKEY_ISSUER")) != ""
	before := len(l.problems)
	c.PublicURL = l.baseURL("LATCHKEY_PUBLIC_URL", defaultPublicURL(c.Addr))
	if len(l.problems) == before || c.issuerSet {
		c.Issuer = l.baseURL("LATCHKEY_ISSUER", c.PublicURL+"/cis/oidc")
	}
	return c, errors.Join(l.problems...)
}

// Listening completes the configuration once the server listens on addr:
// a public URL and issuer that were left to their defaults follow the real
// address (which differs from LATCHKEY_ADDR when it asks for port 0).
func (c *Config) Listening(addr string) {
	if !c.publicURLSet {
		c.PublicURL = defaultPublicURL(addr)
	}
	if !c.issuerSet {
		c.Issuer = c.PublicURL + "/cis/oidc"
	}
}

// defaultPublicURL is http:// and the listen address, with a wildcard host
// replaced by localhost.
func defaultPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Default returns the default of a variable.
func Default(name string) string {
	for _, v := range Vars {
		if v.Name == name {
			return v.Default
		}
	}
	panic("config: undeclared variable " + name)
}

// loader reads variables and collects one problem per bad one.
type loader struct {
	getenv   func(string) string
	problems []error
}

func (l *loader) get(name string) string {
	if v := strings.TrimSpace(l.getenv(name)); v != "" {
		return v
	}
	return Default(name)
}

func (l *loader) bad(name, value, allowed string) {
	l.problems = append(l.problems, fmt.Errorf("%s=%q is invalid: %s", name, value, allowed))
}

func (l *loader) addr(name string) string {
	v := l.get(name)
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		l.bad(name, v, "want host:port, like 127.0.0.1:7080 or :7080")
	}
	return v
}

func (l *loader) database(name string) Database {
	v := l.get(name)
	switch {
	case strings.HasPrefix(v, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(v, "sqlite:"), "//")
		if path == "" {
			l.bad(name, v, "want sqlite:PATH, like sqlite:latchkey.db")
		}
		return Database{Driver: "sqlite", Path: path, URL: v}
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		if _, err := url.Parse(v); err != nil {
			l.bad(name, redactURL(v), "want a postgres:// URL")
		}
		return Database{Driver: "postgres", URL: v}
	default:
		l.bad(name, redactURL(v), "want sqlite:PATH or postgres://user@host:port/db")
		return Database{}
	}
}

// redactURL hides a password in a URL before it is printed. A URL that
// does not parse loses everything between its scheme and its last "@",
// where user info would stand.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err == nil {
		if u.User == nil {
			return v
		}
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(v, "://")
	if at := strings.LastIndexByte(rest, '@'); ok && at >= 0 {
		return scheme + "://xxxxx@" + rest[at+1:]
	}
	return v
}

func (l *loader) oneOf(name string, allowed []string) string {
	v := l.get(name)
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	l.bad(name, v, "want one of "+strings.Join(allowed, ", "))
	return allowed[0]
}

func (l *loader) boolean(name string) bool {
	switch v := strings.ToLower(l.get(name)); v {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	default:
		l.bad(name, v, "want true or false")
		return false
	}
}

func (l *loader) duration(name string, min, max time.Duration) time.Duration {
	v := l.get(name)
	d, err := time.ParseDuration(v)
	if err != nil || d < min || d > max {
		l.bad(name, v, fmt.Sprintf("want a duration from %s to %s, like 90s or 1h", min, max))
	}
	return d
}

func (l *loader) integer(name string, min, max int) int {
	v := l.get(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		l.bad(name, v, fmt.Sprintf("want a whole number from %d to %d", min, max))
	}
	return n
}

func (l *loader) level(name string) slog.Level {
	v := l.get(name)
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(v)); err != nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(v)) {
		l.bad(name, v, "want debug, info, warn or error")
	}
	return lv
}

// secret returns the secret, never echoing it in a problem.
func (l *loader) secret(name string) []byte {
	v := l.getenv(name)
	if v == "" {
		return nil
	}
	if len(v) < MinSecretLength {
		l.problems = append(l.problems, fmt.Errorf("%s is too short (%d bytes): want at least %d random bytes, e.g. from `openssl rand -base64 32`", name, len(v), MinSecretLength))
	}
	return []byte(v)
}

func (l *loader) previousSecrets(name string) [][]byte {
	var out [][]byte
	for _, s := range strings.Split(l.getenv(name), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if len(s) < MinSecretLength {
			l.problems = append(l.problems, fmt.Errorf("%s holds a secret shorter than %d bytes", name, MinSecretLength))
		}
		out = append(out, []byte(s))
	}
	return out
}

// prefixes reads a comma-separated list of IP addresses (each its own /32
// or /128) and CIDR prefixes.
func (l *loader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range strings.Split(l.get(name), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				l.bad(name, v, "want IP addresses or CIDR prefixes such as 10.0.0.0/8, separated by commas")
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// baseURL reads an absolute http(s) URL without query or fragment and
// returns it without a trailing slash.
func (l *loader) baseURL(name, def string) string {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		v = def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		l.bad(name, v, "want an absolute http or https URL without query, fragment or user info")
	}
	return strings.TrimRight(v, "/")
}
