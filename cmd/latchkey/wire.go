package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/apps"
	"github.com/latchkeyhq/latchkey/config"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/oauth2"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/ratelimit"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/sessions"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/storehook"
	"github.com/latchkeyhq/latchkey/token"
	"github.com/latchkeyhq/latchkey/tracing"
	"github.com/latchkeyhq/latchkey/users"
)

// system is Latchkey assembled: the store and every service over it.
type system struct {
	cfg      config.Config
	log      *slog.Logger
	store    latchkey.Store
	keyring  *secrets.Keyring
	keys     *token.Keys
	issuer   *token.Issuer
	apps     *apps.Service
	users    *users.Service
	sessions *sessions.Service
	login    *login.Service
	outbox   *delivery.Worker
	// closers are the providers holding connections open between
	// messages.
	closers []io.Closer
	oauth   *oauth2.Server
	// tel is what a server reports on itself; nil for the other commands.
	tel      *telemetry
	tenantID string
	// demoAppID is the demo app of `latchkey dev`.
	demoAppID string
}

// loadConfig reads the configuration; in dev mode the database defaults to a
// local dev file and LATCHKEY_DEV is on. Problems are printed one per line.
func loadConfig(e env, dev bool) (config.Config, bool) {
	getenv := e.getenv
	if dev {
		getenv = func(name string) string {
			switch v := e.getenv(name); {
			case v != "":
				return v
			case name == "LATCHKEY_DATABASE_URL":
				return "sqlite:latchkey-dev.db"
			case name == "LATCHKEY_DEV":
				return "true"
			case name == "LATCHKEY_DRAIN_DELAY":
				return "0s" // no load balancer to tell
			case name == "LATCHKEY_METRICS_ADDR":
				return devMetricsAddr(cmp.Or(e.getenv("LATCHKEY_ADDR"), config.Default("LATCHKEY_ADDR")))
			}
			return ""
		}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(e.stderr, "latchkey:", line)
		}
		return cfg, false
	}
	return cfg, true
}

// newLogger logs at LATCHKEY_LOG_LEVEL in LATCHKEY_LOG_FORMAT; with traces
// on, a line logged in a traced context carries its trace and span IDs.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	if cfg.Tracing.Endpoint != "" {
		h = tracing.LogHandler(h)
	}
	return slog.New(h)
}

// open assembles the system: opens and migrates the database, loads the
// server secret and makes sure signing keys exist. tel, a server's, is
// attached to every part it observes; nil for the other commands.
func open(ctx context.Context, cfg config.Config, e env, log *slog.Logger, tel *telemetry) (*system, error) {
	if cfg.Database.Driver == "sqlite" {
		devStep(e, "opening the database %s and applying its migrations", cfg.Database.Path)
	} else {
		devStep(e, "connecting to PostgreSQL and applying its migrations")
	}
	store, err := openStore(ctx, cfg, e)
	if err != nil {
		return nil, err
	}
	// Every database call, whether a request's, background work's or a
	// command's, runs through the hooks: a server's telemetry, then the
	// call's deadline.
	hooked := storehook.Wrap(store, append(tel.storeHooks(), storehook.Deadline(cfg.DBTimeout))...)
	tel.watchStore(hooked, store)
	s := &system{cfg: cfg, log: log, store: hooked, tel: tel}
	if err := s.init(ctx, e); err != nil {
		store.Close()
		return nil, err
	}
	return s, nil
}

func (s *system) init(ctx context.Context, e env) error {
	devStep(e, "loading the server secret")
	secret, err := serverSecret(s.cfg, s.log, e.rand)
	if err != nil {
		return err
	}
	if s.keyring, err = secrets.New(e.rand, secret, s.cfg.Previous...); err != nil {
		return fmt.Errorf("LATCHKEY_SECRET: %w", err)
	}
	if s.tenantID, err = s.store.TenantID(ctx); err != nil {
		return fmt.Errorf("read tenant: %w", err)
	}
	s.keys, err = token.NewKeys(token.KeysConfig{Store: s.store, Keyring: s.keyring, Algorithm: s.cfg.SigningAlg,
		Now: e.now, Rand: e.rand, Refresh: s.cfg.KeyRefresh})
	if err != nil {
		return err
	}
	devStep(e, "loading the signing keys (the first run generates them)")
	if err := s.keys.Ensure(ctx); err != nil {
		return err
	}
	s.issuer = token.NewIssuer(s.keys, s.cfg.Issuer, e.now)
	s.apps = apps.NewService(s.store, s.keyring, e.now, e.rand)
	s.users = users.NewService(s.store, e.now, e.rand)
	s.sessions = sessions.New(sessions.Config{Store: s.store, Keyring: s.keyring, Issuer: s.issuer,
		TenantID: s.tenantID, Now: e.now, Rand: e.rand})
	senders, err := s.senders(e)
	if err != nil {
		return err
	}
	senders = s.tel.senders(senders)
	s.outbox = delivery.NewWorker(delivery.WorkerConfig{Store: s.store, Senders: senders, Log: s.log, Now: e.now, Rand: e.rand,
		Keyring: s.keyring, Recorded: s.tel.recorded(), Carry: s.tel.carry()})
	limiter := ratelimit.New(ratelimit.Config{Store: s.store, Keyring: s.keyring, Log: s.log, Now: e.now, Refused: s.tel.refused()})
	s.login = login.New(login.Config{Store: s.store, Users: s.users, Sessions: s.sessions, Keyring: s.keyring,
		Delivery: s.outbox, Limiter: limiter, Observer: s.tel.loginObserver(), PublicURL: s.cfg.PublicURL, Now: e.now, Rand: e.rand})
	s.oauth = oauth2.NewServer(oauth2.Config{Apps: s.apps, Store: s.store, Issuer: s.issuer, TenantID: s.tenantID,
		Now: e.now, Rand: e.rand, ClientTokenTTL: s.cfg.ClientTTL, Sessions: s.sessions, Limiter: limiter})
	return nil
}

// Close releases the providers' connections, then the store. The outbox
// must have stopped.
func (s *system) Close() error {
	return errors.Join(s.closeSenders(), s.store.Close())
}

// migratingStore is a store that can bring its schema up to date; both
// databases are.
type migratingStore interface {
	latchkey.Store
	Migrate(ctx context.Context, rand io.Reader, now time.Time) ([]int, error)
	Migrations(ctx context.Context) ([]latchkey.Migration, error)
}

// openStore opens the configured database and applies its migrations.
func openStore(ctx context.Context, cfg config.Config, e env) (latchkey.Store, error) {
	store, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := store.Migrate(ctx, e.rand, e.now()); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// openDatabase opens the database LATCHKEY_DATABASE_URL names.
func openDatabase(ctx context.Context, cfg config.Config) (migratingStore, error) {
	switch cfg.Database.Driver {
	case "sqlite":
		if dir := filepath.Dir(cfg.Database.Path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("LATCHKEY_DATABASE_URL: create directory: %w", err)
			}
		}
		store, err := sqlite.Open(cfg.Database.Path, sqlite.Options{Synchronous: cfg.Synchronous})
		if err != nil {
			return nil, err
		}
		return store, nil
	case "postgres":
		store, err := postgres.Open(ctx, cfg.Database.URL, postgres.Options{MaxConns: int32(cfg.DBMaxConns), ConnectTimeout: cfg.DBConnect})
		if err != nil {
			return nil, fmt.Errorf("LATCHKEY_DATABASE_URL: %w", err)
		}
		return store, nil
	default:
		return nil, fmt.Errorf("LATCHKEY_DATABASE_URL: unknown database %q", cfg.Database.Driver)
	}
}

// serverSecret returns LATCHKEY_SECRET. Without it, a SQLite deployment
// keeps a generated secret in a 0600 file beside the database (so a copy of
// the database alone reveals nothing); PostgreSQL nodes must share one
// secret and so must be given it.
func serverSecret(cfg config.Config, log *slog.Logger, rand io.Reader) ([]byte, error) {
	if cfg.Secret != nil {
		return cfg.Secret, nil
	}
	if cfg.Database.Driver != "sqlite" {
		return nil, errors.New("LATCHKEY_SECRET is required with PostgreSQL: set it to at least 32 random bytes, e.g. `openssl rand -base64 32`, the same on every node")
	}
	path := cfg.Database.Path + ".secret"
	secret, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if secret, err = newSecretFile(path, rand); err != nil {
			return nil, err
		}
		if !cfg.Dev {
			log.Warn("LATCHKEY_SECRET is not set: generated a server secret in a file beside the database; set LATCHKEY_SECRET in production and keep it out of database backups", "file", path)
		}
		return secret, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read server secret %s: %w", path, err)
	}
	secret = []byte(strings.TrimSpace(string(secret)))
	if len(secret) < config.MinSecretLength {
		return nil, fmt.Errorf("server secret file %s is shorter than %d bytes", path, config.MinSecretLength)
	}
	return secret, nil
}

// newSecretFile writes a new random secret to path, which must not exist.
func newSecretFile(path string, rand io.Reader) ([]byte, error) {
	token, err := secrets.Token(rand, 32)
	if err != nil {
		return nil, err
	}
	secret := []byte(token)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create server secret file: %w", err)
	}
	if _, err := f.Write(append(secret, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("write server secret file: %w", err)
	}
	return secret, f.Close()
}
