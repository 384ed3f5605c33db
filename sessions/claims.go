package sessions

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/token"
)

// AccessClaims are the claims of a user access token.
type AccessClaims struct {
	token.Standard
	ClientID  string `json:"client_id"`
	AppID     string `json:"app_id"`
	AppName   string `json:"app_name"`
	TenantID  string `json:"tid"`
	SessionID string `json:"sid"`
	Scope     string `json:"scope"`
}

type mintOptions struct {
	resource     string
	claims       json.RawMessage
	newUser      bool
	approvalData json.RawMessage
}

// mint signs an access token and an ID token for user in sess.
func (s *Service) mint(ctx context.Context, app latchkey.App, user latchkey.User, sess latchkey.Session, o mintOptions) (Tokens, error) {
	now := s.now()
	aud := token.DefaultAudience
	if o.resource != "" {
		aud = o.resource
	}
	jti, err := secrets.NewID(s.rand)
	if err != nil {
		return Tokens{}, err
	}
	access := AccessClaims{
		Standard: token.Standard{Issuer: s.issuer.URL(), Subject: user.ID, Audience: aud, IssuedAt: now.Unix(),
			Expiry: now.Add(app.Policy.AccessTokenTTL).Unix(), ID: jti},
		ClientID: app.ClientID, AppID: app.ID, AppName: app.Name, TenantID: s.tenantID, SessionID: sess.ID, Scope: AccessScope,
	}
	accessToken, err := s.issuer.Sign(ctx, token.TypeAccessToken, access)
	if err != nil {
		return Tokens{}, err
	}
	idToken, err := s.issuer.Sign(ctx, token.TypeIDToken, s.idClaims(app, user, sess, o, now))
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: accessToken, IDToken: idToken, TokenType: "Bearer",
		ExpiresIn: int64(app.Policy.AccessTokenTTL.Seconds())}, nil
}

// idClaims builds the ID token: the required claims, what Latchkey knows
// of the user's contact points, and any profile claims the request asked
// for.
func (s *Service) idClaims(app latchkey.App, user latchkey.User, sess latchkey.Session, o mintOptions, now time.Time) map[string]any {
	c := map[string]any{
		"iss": s.issuer.URL(), "sub": user.ID, "aud": app.ClientID, "tid": s.tenantID,
		"iat": now.Unix(), "exp": now.Add(app.Policy.IDTokenTTL).Unix(),
		"auth_time": sess.AuthenticatedAt.Unix(), "amr": amr(sess.Methods), "sid": sess.ID,
		"new_user": o.newUser,
	}
	if user.Email != "" {
		c["email"], c["email_verified"] = user.Email, !user.EmailVerifiedAt.IsZero()
	}
	if user.Phone != "" {
		c["phone_number"], c["phone_number_verified"] = user.Phone, !user.PhoneVerifiedAt.IsZero()
	}
	if len(o.approvalData) > 0 {
		c["approval_data"] = o.approvalData
	}
	for name := range requestedIDClaims(o.claims) {
		if v, ok := profileClaim(name, app, user); ok {
			c[name] = v
		}
	}
	return c
}

// factorOf groups the amr methods by what they prove. A passcode and a
// link sent by email both prove the same mailbox, so eotp and eml are one
// factor; an SMS code proves the phone; a direct code proves whatever
// channel the app delivered it through, which is its own. A method
// Latchkey does not know is a factor of its own.
var factorOf = map[string]string{"eotp": "email", "eml": "email", "sms": "phone", "otp": "direct"}

// amr is the ID token's "amr": the session's methods, and "mfa" (RFC 8176
// §2) once they prove two different factors, which Mosaic's MFA sample
// checks for.
func amr(methods []string) []string {
	factors := map[string]bool{}
	for _, m := range methods {
		f, ok := factorOf[m]
		if !ok {
			f = m
		}
		factors[f] = true
	}
	if len(factors) < 2 {
		return methods
	}
	return append(slices.Clip(methods), "mfa")
}

// checkClaims accepts an absent claims request or an OIDC claims object
// whose members are objects.
func checkClaims(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(raw, &req); err != nil || req == nil {
		return latchkey.Errorf(latchkey.CodeInvalid, "claims must be an object such as {\"id_token\":{\"username\":null}}")
	}
	for member, v := range req {
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(v, &inner); err != nil || (inner == nil && string(v) != "null") {
			return latchkey.Errorf(latchkey.CodeInvalid, "claims.%s must be an object", member)
		}
	}
	return nil
}

// requestedIDClaims returns the claim names the request's id_token member
// asks for.
func requestedIDClaims(raw json.RawMessage) map[string]json.RawMessage {
	var req struct {
		IDToken map[string]json.RawMessage `json:"id_token"`
	}
	_ = json.Unmarshal(raw, &req) // checked by checkClaims
	return req.IDToken
}

// profileClaim returns the value of an optional ID token claim that Mosaic
// documents and Latchkey keeps, if the user has it.
func profileClaim(name string, app latchkey.App, u latchkey.User) (any, bool) {
	p := u.Profile
	var names struct {
		First  string `json:"first_name"`
		Middle string `json:"middle_name"`
		Last   string `json:"last_name"`
	}
	_ = json.Unmarshal(p.Name, &names)
	values := map[string]any{
		"username":         u.Username,
		"external_user_id": u.ExternalUserID,
		"fname":            names.First,
		"mname":            names.Middle,
		"lname":            names.Last,
		"birthday":         p.Birthday,
		"picture":          p.Picture,
		"language":         p.Language,
		"app_name":         app.Name,
	}
	if v, ok := values[name]; ok {
		return v, v != ""
	}
	switch name {
	case "custom_data":
		return p.CustomData, len(p.CustomData) > 0
	case "created_at":
		return latchkey.Millis(u.CreatedAt), true
	case "last_auth":
		return latchkey.Millis(u.LastAuthAt), !u.LastAuthAt.IsZero()
	}
	return nil, false
}
