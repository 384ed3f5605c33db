// Package oauth2 is Latchkey's OAuth 2.0 authorization server: the token
// endpoint (client authentication, then one grant), the client access tokens
// that the client_credentials grant issues, and the bearer check that every
// /cis/v1 call passes through.
//
// Client authentication is one shared phase: it runs before any grant, so no
// grant can forget it. Each grant type is a Grant that only does its own
// part. Errors are *Error values in RFC 6749 §5.2 terms; the HTTP layer
// writes them.
package oauth2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/apps"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/sessions"
	"github.com/latchkeyhq/latchkey/token"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2).
type Error struct {
	Code        string // invalid_request, invalid_client, invalid_grant, ...
	Description string // safe to show; never holds a secret
	Status      int    // HTTP status
	// Basic asks for a WWW-Authenticate: Basic challenge (RFC 6749 §5.2,
	// when the client tried HTTP Basic authentication).
	Basic bool
}

// Error returns the code and description.
func (e *Error) Error() string { return e.Code + ": " + e.Description }

func errorf(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Description: fmt.Sprintf(format, args...)}
}

// Grant types Latchkey knows.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

// TokenRequest is a parsed token endpoint request.
type TokenRequest struct {
	GrantType    string
	ClientID     string
	ClientSecret string
	// UsedBasic records that the client authenticated with HTTP Basic.
	UsedBasic bool
	// Source is the address the request came from, as the HTTP layer
	// works it out (through trusted proxies); the zero Addr when unknown.
	Source   netip.Addr
	Resource string
	Scope    string
	// Params holds every form parameter, for the grant's own fields.
	Params map[string]string
}

// TokenResponse is the JSON body of a successful token response. Fields a
// grant does not issue are left empty and omitted.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	SessionID    string `json:"session_id,omitempty"`
}

// ClientTokenResponse is the client_credentials response: Mosaic's four
// fields, all always present.
type ClientTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// Grant issues tokens for one grant type, once the client is authenticated.
type Grant interface {
	Issue(ctx context.Context, app latchkey.App, req TokenRequest) (any, error)
}

// Config configures a Server.
type Config struct {
	Apps     *apps.Service
	Store    latchkey.AppStore
	Issuer   *token.Issuer
	TenantID string
	Now      func() time.Time
	Rand     io.Reader
	// ClientTokenTTL is the lifetime of client access tokens.
	ClientTokenTTL time.Duration
	// Sessions, when set, serves the refresh_token grant and revocation.
	Sessions *sessions.Service
	// Limiter, when set, throttles failed client authentications.
	Limiter ClientLimiter
}

// ClientLimiter throttles failed client authentications per source
// address and per client_id (package ratelimit implements it).
type ClientLimiter interface {
	// CheckClient refuses an authentication, before its secret is
	// evaluated, while the address is blocked, for any client or for this
	// one.
	CheckClient(ctx context.Context, clientID string, addr netip.Addr) error
	// ClientFailed records a failed authentication.
	ClientFailed(ctx context.Context, clientID string, addr netip.Addr) error
}

// Server runs the token endpoint and checks client access tokens.
type Server struct {
	cfg    Config
	grants map[string]Grant
	cache  *bearerCache
}

// NewServer returns a Server that knows the client_credentials grant, and
// the refresh_token grant when cfg.Sessions is set.
func NewServer(cfg Config) *Server {
	s := &Server{cfg: cfg, grants: map[string]Grant{}, cache: newBearerCache()}
	s.grants[GrantClientCredentials] = clientCredentials{s}
	if cfg.Sessions != nil {
		s.grants[GrantRefreshToken] = refreshGrant{cfg.Sessions}
	}
	return s
}

// GrantTypes lists the accepted grant types, for the discovery document.
func (s *Server) GrantTypes() []string {
	out := []string{GrantClientCredentials}
	for g := range s.grants {
		if g != GrantClientCredentials {
			out = append(out, g)
		}
	}
	return out
}

// Token authenticates the client and runs the requested grant.
func (s *Server) Token(ctx context.Context, req TokenRequest) (any, error) {
	app, err := s.AuthenticateClient(ctx, req)
	if err != nil {
		return nil, err
	}
	grant, ok := s.grants[req.GrantType]
	if !ok {
		return nil, errorf("unsupported_grant_type", 400, "grant_type %q is not supported", req.GrantType)
	}
	return grant.Issue(ctx, app, req)
}

// AuthenticateClient checks the client's ID and secret. An unknown client and
// a wrong secret get the same answer, after the same work. An address that
// failed too often is refused (429) without its secret being evaluated,
// and every failure is counted.
func (s *Server) AuthenticateClient(ctx context.Context, req TokenRequest) (latchkey.App, error) {
	if req.ClientID == "" || req.ClientSecret == "" {
		return latchkey.App{}, &Error{Code: "invalid_client", Status: 401, Basic: req.UsedBasic,
			Description: "client authentication is required (client_secret_basic or client_secret_post)"}
	}
	if s.cfg.Limiter != nil {
		if err := s.cfg.Limiter.CheckClient(ctx, req.ClientID, req.Source); err != nil {
			return latchkey.App{}, err
		}
	}
	app, err := s.cfg.Store.GetAppByClientID(ctx, req.ClientID)
	switch latchkey.ErrorCode(err) {
	case "":
	case latchkey.CodeNotFound:
		// Hash anyway so that an unknown client_id costs what a wrong
		// secret does.
		s.cfg.Apps.VerifySecret(latchkey.App{SecretHash: make([]byte, 32)}, req.ClientSecret)
		return latchkey.App{}, s.clientFailed(ctx, req)
	default:
		return latchkey.App{}, err
	}
	if !s.cfg.Apps.VerifySecret(app, req.ClientSecret) {
		return latchkey.App{}, s.clientFailed(ctx, req)
	}
	return app, nil
}

// clientFailed counts a failed client authentication and returns its
// answer; a failure to count it is returned instead, failing closed.
func (s *Server) clientFailed(ctx context.Context, req TokenRequest) error {
	if s.cfg.Limiter != nil {
		if err := s.cfg.Limiter.ClientFailed(ctx, req.ClientID, req.Source); err != nil {
			return err
		}
	}
	return badClient(req)
}

func badClient(req TokenRequest) *Error {
	return &Error{Code: "invalid_client", Status: 401, Basic: req.UsedBasic, Description: "client authentication failed"}
}

// ClientClaims are the claims of a client access token.
type ClientClaims struct {
	token.Standard
	ClientID  string `json:"client_id"`
	AppID     string `json:"app_id"`
	AppName   string `json:"app_name"`
	TenantID  string `json:"tid"`
	Scope     string `json:"scope"`
	GrantType string `json:"gty"`
	// SecretGeneration is the app's secret generation when the token was
	// minted; a token of another generation than the app's is refused.
	// Tokens minted before generations existed carry none: 0.
	SecretGeneration int64 `json:"secret_gen"`
}

// clientCredentials is the client_credentials grant (RFC 6749 §4.4): an
// access token for the app itself, and no refresh token (§4.4.3).
type clientCredentials struct{ s *Server }

func (g clientCredentials) Issue(ctx context.Context, app latchkey.App, req TokenRequest) (any, error) {
	aud := token.DefaultAudience
	if req.Resource != "" {
		if !app.HasResource(req.Resource) {
			return nil, errorf("invalid_target", 400, "resource %q is not one of this app's resources", req.Resource)
		}
		aud = req.Resource
	}
	cfg := g.s.cfg
	jti, err := secrets.NewID(cfg.Rand)
	if err != nil {
		return nil, err
	}
	now := cfg.Now()
	claims := ClientClaims{
		Standard: token.Standard{Issuer: cfg.Issuer.URL(), Subject: app.ClientID, Audience: aud,
			IssuedAt: now.Unix(), Expiry: now.Add(cfg.ClientTokenTTL).Unix(), ID: jti},
		ClientID: app.ClientID, AppID: app.ID, AppName: app.Name, TenantID: cfg.TenantID,
		GrantType: GrantClientCredentials, SecretGeneration: app.SecretGeneration,
	}
	raw, err := cfg.Issuer.Sign(ctx, token.TypeAccessToken, claims)
	if err != nil {
		return nil, err
	}
	return ClientTokenResponse{AccessToken: raw, TokenType: "Bearer", ExpiresIn: int64(cfg.ClientTokenTTL / time.Second)}, nil
}

// errInvalidToken is the one answer to every rejected bearer token, as
// Mosaic words it.
var errInvalidToken = invalidToken(nil)

// invalidToken is that answer, with the reason kept for the log only.
func invalidToken(cause error) *latchkey.Error {
	return &latchkey.Error{Code: latchkey.CodeUnauthorized, Message: "Invalid token", Err: cause}
}

// AuthenticateBearer checks an Authorization header carrying a client access
// token for Latchkey's API: signature, type, issuer, expiry, audience and
// grant, then that the app still exists and the token was obtained with its
// current secret. It returns the calling app. Verified tokens and their apps
// are cached (see cache.go).
func (s *Server) AuthenticateBearer(ctx context.Context, header string) (latchkey.App, error) {
	scheme, raw, ok := strings.Cut(header, " ")
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return latchkey.App{}, errInvalidToken
	}
	now := s.cfg.Now()
	key := tokenKey(raw)
	entry := s.cache.get(key, now)
	if entry == nil {
		claims, err := s.verifyClientToken(ctx, raw)
		if err != nil {
			return latchkey.App{}, err
		}
		entry = &cachedBearer{claims: claims, expiry: time.Unix(claims.Expiry, 0)}
	}
	if !now.Before(entry.appExpiry) {
		app, err := s.cfg.Store.GetAppByClientID(ctx, entry.claims.ClientID)
		if latchkey.ErrorCode(err) == latchkey.CodeNotFound {
			return latchkey.App{}, invalidToken(err)
		}
		if err != nil {
			return latchkey.App{}, err
		}
		entry.app, entry.appExpiry = app, now.Add(appTTL)
		s.cache.put(key, *entry, now)
	}
	c, app := entry.claims, entry.app
	if app.ID != c.AppID || !obtainedWithCurrentSecret(c, app) {
		return latchkey.App{}, invalidToken(errors.New("token predates the app's secret rotation or names another app"))
	}
	return app, nil
}

// obtainedWithCurrentSecret reports whether the token was minted with the
// app's present secret. The generation decides, whatever the timing: a
// rotation ends even a token minted in the same instant. Generation 0 also
// covers tokens minted before generations existed, which carry none; for
// those the old rule still holds, that the token must not predate the last
// rotation (compared in whole seconds, as "iat" is), so that upgrading
// revives no token a rotation had ended.
func obtainedWithCurrentSecret(c ClientClaims, app latchkey.App) bool {
	if c.SecretGeneration != app.SecretGeneration {
		return false
	}
	return c.SecretGeneration > 0 || c.IssuedAt >= app.SecretRotatedAt.Unix()
}

// verifyClientToken checks a token's signature and claims.
func (s *Server) verifyClientToken(ctx context.Context, raw string) (ClientClaims, error) {
	var c ClientClaims
	if _, err := s.cfg.Issuer.Verify(ctx, raw, token.TypeAccessToken, &c); err != nil {
		return c, asUnauthorized(err)
	}
	if c.Audience != token.DefaultAudience || c.GrantType != GrantClientCredentials || c.Subject != c.ClientID {
		return c, invalidToken(fmt.Errorf("not a client access token for this API (aud %q, gty %q)", c.Audience, c.GrantType))
	}
	return c, nil
}

// asUnauthorized turns a verification failure into the API's 401, keeping
// the reason for the log; other failures (the key store is down) pass as is.
func asUnauthorized(err error) error {
	if errors.Is(err, token.ErrInvalidToken) {
		return invalidToken(err)
	}
	return err
}

// refreshGrant is the refresh_token grant (RFC 6749 §6): it rotates the
// refresh token, as the backend refresh endpoint does.
type refreshGrant struct{ sessions *sessions.Service }

func (g refreshGrant) Issue(ctx context.Context, app latchkey.App, req TokenRequest) (any, error) {
	raw := req.Params["refresh_token"]
	if raw == "" {
		return nil, errorf("invalid_request", 400, "refresh_token is required")
	}
	tokens, err := g.sessions.Refresh(ctx, app, raw)
	if latchkey.ErrorCode(err) == latchkey.CodeInvalid {
		return nil, errorf("invalid_grant", 400, "the refresh token is invalid, expired or revoked")
	}
	if err != nil {
		return nil, err
	}
	return TokenResponse{AccessToken: tokens.AccessToken, IDToken: tokens.IDToken, RefreshToken: tokens.RefreshToken,
		TokenType: tokens.TokenType, ExpiresIn: tokens.ExpiresIn, Scope: sessions.AccessScope}, nil
}

// Revoke is the revocation endpoint (RFC 7009). A refresh token of the
// calling app is revoked with its whole family. Anything else (an unknown
// token, garbage, an already revoked token, or another app's refresh token)
// is answered with success and left alone, as RFC 7009 §2.2 asks; another
// app's token is never revoked. Access tokens are JWTs that cannot be
// recalled; revoking one is unsupported_token_type, and the way to end its
// use is to end its session (logout).
func (s *Server) Revoke(ctx context.Context, req TokenRequest) error {
	app, err := s.AuthenticateClient(ctx, req)
	if err != nil {
		return err
	}
	raw := req.Params["token"]
	if s.cfg.Sessions != nil {
		revoked, err := s.cfg.Sessions.RevokeRefreshToken(ctx, app, raw)
		if err != nil || revoked {
			return err
		}
	}
	if strings.Count(raw, ".") == 2 {
		var c struct {
			ClientID string `json:"client_id"`
		}
		if _, err := s.cfg.Issuer.Verify(ctx, raw, token.TypeAccessToken, &c); err == nil && c.ClientID == app.ClientID {
			return errorf("unsupported_token_type", 400, "access tokens cannot be revoked; end the session (POST /cis/v1/auth/session/logout) instead")
		}
	}
	return nil
}
