package latchkey

import (
	"slices"
	"time"
)

// App is an application registered with Latchkey: one OAuth 2.0 confidential
// client whose backend calls the API, the redirect URIs its magic links may
// lead to, the resources its tokens may be issued for, and its login policy.
type App struct {
	ID       string
	Name     string
	ClientID string
	// SecretHash is the keyed hash of the client secret; the secret itself
	// is shown once, when created or rotated, and never stored.
	SecretHash []byte
	// RedirectURIs are matched byte for byte: no prefix, wildcard or
	// normalisation.
	RedirectURIs []string
	// Resources are the audiences, besides the default, that tokens for
	// this app may carry.
	Resources []string
	// Management apps' client tokens may call the management endpoints that
	// act on the whole tenant.
	Management bool
	Policy     LoginPolicy
	Limits     Limits
	Branding   Branding
	// SecretGeneration counts the app's secret rotations. Client access
	// tokens carry the generation of the secret that obtained them, and
	// only tokens of the current generation are accepted: a rotated secret
	// also ends every token the old one obtained, whenever it was minted.
	SecretGeneration int64
	// SecretRotatedAt is when the secret was last set. Tokens of
	// generation 0, which include those minted before generations existed,
	// must also not predate it.
	SecretRotatedAt time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Branding is how an app's emails and SMS present it. Empty fields fall
// back to Latchkey's defaults: the app's name as sender, no logo, the
// default colour.
type Branding struct {
	SenderName   string // the display name of the app's emails
	LogoURL      string // an https image URL shown at the top of emails
	PrimaryColor string // #RGB or #RRGGBB
}

// LoginPolicy is an app's one-time login policy. Every field has a default
// (DefaultLoginPolicy) and a range (LoginPolicy.Validate).
type LoginPolicy struct {
	OTPLength       int           // digits in a one-time passcode
	OTPExpiry       time.Duration // how long a passcode stays valid
	MaxFailures     int           // failed attempts before lockout
	LockoutDuration time.Duration // how long the first lockout lasts; each consecutive one doubles
	MagicLinkExpiry time.Duration // how long a magic link stays valid
	AccessTokenTTL  time.Duration // user access token lifetime
	IDTokenTTL      time.Duration // ID token lifetime
	RefreshTokenTTL time.Duration // refresh token lifetime
	SessionTTL      time.Duration // session lifetime
	// HideUnknownUsers makes a send for an unknown identifier answer
	// exactly as a real send does, delivering nothing.
	HideUnknownUsers bool
	// PublicSignup creates the user on the first send to an unknown
	// identifier.
	PublicSignup bool
}

// MaxJWTLifetime caps every JWT lifetime (client, access and ID tokens). A
// retired signing key stays published this long, plus a margin, so every
// token it signed can still be verified until it expires.
const MaxJWTLifetime = 24 * time.Hour

// DefaultLoginPolicy returns the policy a new app starts with: Mosaic's
// documented values where it publishes them.
func DefaultLoginPolicy() LoginPolicy {
	return LoginPolicy{
		OTPLength:       6,
		OTPExpiry:       5 * time.Minute,
		MaxFailures:     3,
		LockoutDuration: 15 * time.Minute,
		MagicLinkExpiry: 15 * time.Minute,
		AccessTokenTTL:  time.Hour,
		IDTokenTTL:      time.Hour,
		RefreshTokenTTL: 14 * 24 * time.Hour,
		SessionTTL:      14 * 24 * time.Hour,
	}
}

// durationRange bounds one duration field of a policy.
type durationRange struct {
	name     string
	value    time.Duration
	min, max time.Duration
}

// Validate reports the first field outside its allowed range, naming the
// field and the range.
func (p LoginPolicy) Validate() error {
	if p.OTPLength < 4 || p.OTPLength > 8 {
		return Errorf(CodeInvalid, "otp_length must be between 4 and 8, got %d", p.OTPLength)
	}
	if p.MaxFailures < 1 || p.MaxFailures > 20 {
		return Errorf(CodeInvalid, "max_failures must be between 1 and 20, got %d", p.MaxFailures)
	}
	ranges := []durationRange{
		{"otp_expiry", p.OTPExpiry, time.Minute, 24 * time.Hour},
		{"lockout_duration", p.LockoutDuration, time.Minute, 24 * time.Hour},
		{"magic_link_expiry", p.MagicLinkExpiry, time.Minute, 24 * time.Hour},
		{"access_token_ttl", p.AccessTokenTTL, time.Minute, MaxJWTLifetime},
		{"id_token_ttl", p.IDTokenTTL, time.Minute, MaxJWTLifetime},
		{"refresh_token_ttl", p.RefreshTokenTTL, time.Minute, 365 * 24 * time.Hour},
		{"session_ttl", p.SessionTTL, time.Minute, 365 * 24 * time.Hour},
	}
	for _, r := range ranges {
		if r.value < r.min || r.value > r.max {
			return Errorf(CodeInvalid, "%s must be between %s and %s, got %s", r.name, r.min, r.max, r.value)
		}
	}
	return nil
}

// HasRedirectURI reports whether uri is exactly one of the app's redirect
// URIs. Exact string equality is the whole rule (RFC 9700 §2.1).
func (a *App) HasRedirectURI(uri string) bool {
	return slices.Contains(a.RedirectURIs, uri)
}

// HasResource reports whether uri is exactly one of the app's resources.
func (a *App) HasResource(uri string) bool {
	return slices.Contains(a.Resources, uri)
}
