// Package apps holds the rules for registering and changing applications:
// how client credentials are made and checked, which redirect URIs and
// resources are acceptable, and what valid login policies and limits are.
// The CLI is its main caller; the oauth2 package uses it to authenticate
// clients.
package apps

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/users"
)

// secretPurpose separates client-secret hashes from every other keyed hash.
const secretPurpose = "client_secret"

// secretBytes is the entropy of a client secret: 256 bits (RFC 6749 §10.10).
const secretBytes = 32

// maxNameLength bounds an app's name, which appears in emails and SMS.
const maxNameLength = 100

// Service creates, changes and authenticates apps.
type Service struct {
	store   latchkey.AppStore
	keyring *secrets.Keyring
	now     func() time.Time
	rand    io.Reader
}

// NewService returns a Service over store.
func NewService(store latchkey.AppStore, keyring *secrets.Keyring, now func() time.Time, rand io.Reader) *Service {
	return &Service{store: store, keyring: keyring, now: now, rand: rand}
}

// Credentials are an app's identifiers and its client secret in clear. The
// secret exists only in this value: it is shown to the operator once.
type Credentials struct {
	AppID        string `json:"app_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// NewApp describes an app to create.
type NewApp struct {
	Name         string
	RedirectURIs []string
	Resources    []string
	Management   bool
}

// Create registers an app with the default login policy and returns it with
// its credentials.
func (s *Service) Create(ctx context.Context, in NewApp) (latchkey.App, Credentials, error) {
	now := s.now()
	id, err := secrets.NewID(s.rand)
	if err != nil {
		return latchkey.App{}, Credentials{}, err
	}
	clientID, err := secrets.NewID(s.rand)
	if err != nil {
		return latchkey.App{}, Credentials{}, err
	}
	secret, err := secrets.Token(s.rand, secretBytes)
	if err != nil {
		return latchkey.App{}, Credentials{}, err
	}
	app := latchkey.App{
		ID:              id,
		Name:            strings.TrimSpace(in.Name),
		ClientID:        clientID,
		SecretHash:      s.keyring.Hash(secretPurpose, secret),
		RedirectURIs:    dedupe(in.RedirectURIs),
		Resources:       dedupe(in.Resources),
		Management:      in.Management,
		Policy:          latchkey.DefaultLoginPolicy(),
		Limits:          latchkey.DefaultLimits(),
		SecretRotatedAt: now,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	if err := Validate(app); err != nil {
		return latchkey.App{}, Credentials{}, err
	}
	if err := s.store.CreateApp(ctx, app); err != nil {
		return latchkey.App{}, Credentials{}, fmt.Errorf("create app: %w", err)
	}
	return app, Credentials{AppID: app.ID, ClientID: app.ClientID, ClientSecret: secret}, nil
}

// Find returns the app whose ID or client ID is ref, so that operators can
// name an app by either.
func (s *Service) Find(ctx context.Context, ref string) (latchkey.App, error) {
	app, err := s.store.GetApp(ctx, ref)
	if latchkey.ErrorCode(err) == latchkey.CodeNotFound {
		app, err = s.store.GetAppByClientID(ctx, ref)
	}
	if latchkey.ErrorCode(err) == latchkey.CodeNotFound {
		return latchkey.App{}, latchkey.Errorf(latchkey.CodeNotFound, "no app has the ID or client ID %q", ref)
	}
	return app, err
}

// List returns every app, oldest first.
func (s *Service) List(ctx context.Context) ([]latchkey.App, error) {
	return s.store.ListApps(ctx)
}

// Update applies change to the app named by ref and saves it if the result is
// valid. The change runs inside the store's transaction, on the latest
// version of the app.
func (s *Service) Update(ctx context.Context, ref string, change func(*latchkey.App)) (latchkey.App, error) {
	app, err := s.Find(ctx, ref)
	if err != nil {
		return latchkey.App{}, err
	}
	return s.store.UpdateApp(ctx, app.ID, func(a *latchkey.App) error {
		change(a)
		a.Name = strings.TrimSpace(a.Name)
		a.RedirectURIs, a.Resources = dedupe(a.RedirectURIs), dedupe(a.Resources)
		a.UpdatedAt = s.now()
		return Validate(*a)
	})
}

// RotateSecret gives the app a new client secret and the next secret
// generation. The old secret stops working at once, and so does every client
// access token it obtained, since those carry the old generation.
func (s *Service) RotateSecret(ctx context.Context, ref string) (latchkey.App, Credentials, error) {
	secret, err := secrets.Token(s.rand, secretBytes)
	if err != nil {
		return latchkey.App{}, Credentials{}, err
	}
	app, err := s.Find(ctx, ref)
	if err != nil {
		return latchkey.App{}, Credentials{}, err
	}
	app, err = s.store.UpdateApp(ctx, app.ID, func(a *latchkey.App) error {
		now := s.now()
		a.SecretHash, a.SecretRotatedAt, a.UpdatedAt = s.keyring.Hash(secretPurpose, secret), now, now
		a.SecretGeneration++
		return nil
	})
	if err != nil {
		return latchkey.App{}, Credentials{}, err
	}
	return app, Credentials{AppID: app.ID, ClientID: app.ClientID, ClientSecret: secret}, nil
}

// Delete removes the app named by ref. Its users stay in the tenant.
func (s *Service) Delete(ctx context.Context, ref string) (latchkey.App, error) {
	app, err := s.Find(ctx, ref)
	if err != nil {
		return latchkey.App{}, err
	}
	return app, s.store.DeleteApp(ctx, app.ID)
}

// VerifySecret reports, in constant time, whether secret is the app's client
// secret (or was, under a previous server secret still configured).
func (s *Service) VerifySecret(app latchkey.App, secret string) bool {
	return s.keyring.Verify(secretPurpose, secret, app.SecretHash)
}

// Validate checks every operator-editable field of an app.
func Validate(a latchkey.App) error {
	if err := validateName(a.Name); err != nil {
		return err
	}
	for _, u := range a.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return err
		}
	}
	for _, r := range a.Resources {
		if err := validateResource(r); err != nil {
			return err
		}
	}
	if err := validateBranding(a.Branding); err != nil {
		return err
	}
	if err := a.Policy.Validate(); err != nil {
		return err
	}
	if err := a.Limits.Validate(); err != nil {
		return err
	}
	for _, c := range a.Limits.SMSCountries {
		if !users.KnownCountry(c) {
			return latchkey.Errorf(latchkey.CodeInvalid, "sms_countries must name known regions or calling codes: %s is neither", c)
		}
	}
	return nil
}

// validateBranding checks what an app's emails show: a one-line sender name
// that cannot break out of a mail header, an https logo URL, a hex colour.
func validateBranding(b latchkey.Branding) error {
	if !delivery.ValidSenderName(b.SenderName) {
		return latchkey.Errorf(latchkey.CodeInvalid, "the sender name must be one line of at most %d characters without quotes or angle brackets", delivery.MaxSenderNameLength)
	}
	if b.LogoURL != "" {
		u, err := url.Parse(b.LogoURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(b.LogoURL) > 2048 {
			return latchkey.Errorf(latchkey.CodeInvalid, "the logo URL must be an https URL")
		}
	}
	if b.PrimaryColor != "" && !delivery.ValidColor(b.PrimaryColor) {
		return latchkey.Errorf(latchkey.CodeInvalid, "the primary colour must be a hex colour such as #4F46E5")
	}
	return nil
}

func validateName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 || n > maxNameLength {
		return latchkey.Errorf(latchkey.CodeInvalid, "the app name must be 1 to %d characters", maxNameLength)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return latchkey.Errorf(latchkey.CodeInvalid, "the app name must not contain control characters")
	}
	return nil
}

// ValidateRedirectURI accepts an absolute https URI, or http on a loopback
// host for local development, with no user info and no fragment (RFC 6749
// §3.1.2, RFC 9700 §2.1).
func ValidateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return latchkey.Errorf(latchkey.CodeInvalid, "redirect URI %q must be an absolute URL", raw)
	case u.User != nil:
		return latchkey.Errorf(latchkey.CodeInvalid, "redirect URI %q must not contain user info", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return latchkey.Errorf(latchkey.CodeInvalid, "redirect URI %q must not contain a fragment", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	default:
		return latchkey.Errorf(latchkey.CodeInvalid, "redirect URI %q must use https (http is allowed only for localhost)", raw)
	}
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// validateResource accepts an absolute URI without a fragment.
func validateResource(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.ContainsAny(raw, " \t\r\n") {
		return latchkey.Errorf(latchkey.CodeInvalid, "resource %q must be an absolute URI without a fragment", raw)
	}
	return nil
}

// dedupe removes repeated entries, keeping the first of each, and returns a
// non-nil slice.
func dedupe(list []string) []string {
	out := make([]string, 0, len(list))
	seen := map[string]bool{}
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
