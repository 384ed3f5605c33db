package login

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/sessions"
	"github.com/latchkeyhq/latchkey/users"
)

// SendLink is a request to send a magic link (either of Mosaic's
// shapes: identifier and identifier_type, or the deprecated email).
type SendLink struct {
	Identifier        string
	IdentifierType    string
	Email             string // the deprecated shape
	RedirectURI       string
	State             string
	Channel           latchkey.Channel // email (default) or direct
	EmailExpiration   *float64         // minutes
	EmailContent      *delivery.EmailContent
	GenerateRequestID bool
	// EndUser is the end user's address, when the backend forwarded it.
	EndUser netip.Addr
}

// SentLink is the answer to a magic-link send; Code and Link are set for
// the direct channel only.
type SentLink struct {
	Message   string `json:"message"`
	Code      string `json:"code,omitempty"`
	Link      string `json:"link,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// LinkPath is where the links in emails point, under the public URL.
const LinkPath = "/magic-link"

// maxStateLength bounds the opaque state echoed in the redirect.
const maxStateLength = 1024

// Errors of the magic-link endpoints, worded as Mosaic's.
var (
	errInvalidLink = latchkey.Errorf(latchkey.CodeInvalid, "Invalid magic link code")
	errRedirectURI = latchkey.Errorf(latchkey.CodeInvalid, "redirect_uri is not one of the allowed redirect URIs configured for this app")
)

// SendLink sends (or, for the direct channel, returns) a magic link.
func (s *Service) SendLink(ctx context.Context, app latchkey.App, req SendLink) (SentLink, error) {
	out, err := s.sendLink(ctx, app, &req)
	s.observeSend(app, latchkey.KindLink, req.Channel, err)
	return out, err
}

// sendLink sends a magic link; req's channel is set to its default when
// the request leaves it out.
func (s *Service) sendLink(ctx context.Context, app latchkey.App, req *SendLink) (SentLink, error) {
	if err := s.checkSendLink(app, req); err != nil {
		return SentLink{}, err
	}
	ttl, err := expiry("email_expiration", req.EmailExpiration, app.Policy.MagicLinkExpiry)
	if err != nil {
		return SentLink{}, err
	}
	t, err := s.sendTarget(ctx, app, req.IdentifierType, req.Identifier)
	if err != nil {
		return SentLink{}, err
	}
	dest, err := t.addressOn(latchkey.ChannelEmail)
	if t, dest, err = s.route(app, t, latchkey.ChannelEmail, dest, err); err != nil {
		return SentLink{}, err
	}
	spend, err := s.limitSend(ctx, app, req.Channel, t, dest, req.EndUser)
	if err != nil {
		return SentLink{}, err
	}
	code, err := secrets.Token(s.cfg.Rand, linkBytes)
	if err != nil {
		return SentLink{}, err
	}
	c, err := s.newChallenge(app, t, latchkey.KindLink, latchkey.ChannelEmail, dest.value, ttl, req.GenerateRequestID)
	if err != nil {
		return SentLink{}, err
	}
	c.CodeHash, c.RedirectURI, c.State = s.cfg.Keyring.Hash(linkPurpose, code), req.RedirectURI, req.State
	link := s.cfg.PublicURL + LinkPath + "?code=" + url.QueryEscape(code)
	var msg *latchkey.Message
	if req.Channel == latchkey.ChannelEmail {
		content, err := delivery.ComposeEmail(delivery.Email{AppName: app.Name, Branding: app.Branding, Link: link, Expiry: ttl, Custom: req.EmailContent})
		if err != nil {
			return SentLink{}, err
		}
		if msg, err = s.message(app, c, content); err != nil {
			return SentLink{}, err
		}
		msg.Suppressed = t.decoy // a decoy's: the same work, nothing delivered
	}
	if req.Channel == latchkey.ChannelDirect {
		c.Channel = latchkey.ChannelDirect
	}
	if err := s.createChallenge(ctx, c, msg, spend); err != nil {
		return SentLink{}, err
	}
	out := SentLink{Message: "Email sent successfully", RequestID: c.RequestID}
	if req.Channel == latchkey.ChannelDirect {
		out.Message, out.Code, out.Link = "Magic link created", code, link
	}
	return out, nil
}

func (s *Service) checkSendLink(app latchkey.App, req *SendLink) error {
	if req.Identifier == "" && req.Email != "" {
		req.Identifier, req.IdentifierType = req.Email, TypeEmail
	}
	if req.Identifier == "" {
		return invalid("identifier and identifier_type (or email) are required")
	}
	if req.RedirectURI == "" {
		return invalid("redirect_uri is required")
	}
	if !app.HasRedirectURI(req.RedirectURI) {
		return errRedirectURI
	}
	if utf8.RuneCountInString(req.State) > maxStateLength {
		return invalid("state must be at most %d characters", maxStateLength)
	}
	switch req.Channel {
	case "":
		req.Channel = latchkey.ChannelEmail
		fallthrough
	case latchkey.ChannelEmail:
		if !s.cfg.Delivery.Available(latchkey.ChannelEmail) {
			return errNoProvider(latchkey.ChannelEmail)
		}
	case latchkey.ChannelDirect:
	default:
		return invalid("channel must be email or direct")
	}
	if req.EmailContent != nil {
		return req.EmailContent.Validate()
	}
	return nil
}

// OpenLink answers a click on a magic link: the app's redirect URI with
// the code (and state) added. It consumes nothing, so a mail scanner that
// follows the link does not spend it. An unknown, used or expired link is
// errInvalidLink.
func (s *Service) OpenLink(ctx context.Context, code string) (string, error) {
	c, err := s.linkChallenge(ctx, code)
	if err != nil {
		return "", err
	}
	if !c.ConsumedAt.IsZero() || c.Expired(s.cfg.Now()) {
		return "", errInvalidLink
	}
	u, err := url.Parse(c.RedirectURI)
	if err != nil {
		return "", errInvalidLink
	}
	q := u.Query()
	q.Set("code", code)
	if c.State != "" {
		q.Set("state", c.State)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// linkChallenge finds the magic link a code belongs to, under the current
// or a previous server secret.
func (s *Service) linkChallenge(ctx context.Context, code string) (latchkey.Challenge, error) {
	if code == "" || len(code) > 128 {
		return latchkey.Challenge{}, errInvalidLink
	}
	for _, hash := range s.cfg.Keyring.Hashes(linkPurpose, code) {
		c, err := s.cfg.Store.GetChallengeByCodeHash(ctx, latchkey.KindLink, hash)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, latchkey.ErrNotFound) {
			return latchkey.Challenge{}, err
		}
	}
	return latchkey.Challenge{}, errInvalidLink
}

// AuthenticateLink is a request to exchange a magic link's code for tokens.
type AuthenticateLink struct {
	Code      string
	RequestID string
	// EndUser is the end user's address, when the backend forwarded it.
	EndUser netip.Addr
	sessions.Options
}

// liveLink returns the app's live magic link whose code req brings, or
// errInvalidLink.
func (s *Service) liveLink(ctx context.Context, app latchkey.App, req AuthenticateLink) (latchkey.Challenge, error) {
	c, err := s.linkChallenge(ctx, req.Code)
	if err != nil {
		return c, err
	}
	if c.AppID != app.ID || c.UserID == "" || !c.ConsumedAt.IsZero() || c.Expired(s.cfg.Now()) || !requestIDMatches(c.RequestID, req.RequestID) {
		return c, errInvalidLink
	}
	return c, nil
}

// AuthenticateLink consumes a magic link's code and returns user tokens.
func (s *Service) AuthenticateLink(ctx context.Context, app latchkey.App, req AuthenticateLink) (sessions.Tokens, error) {
	var sentBy latchkey.Channel
	tokens, err := s.authenticateLink(ctx, app, req, &sentBy)
	s.observeLogin(app, latchkey.KindLink, sentBy, err)
	return tokens, err
}

// authenticateLink consumes a magic link's code and sets sentBy to the
// channel of the link it names, if any.
func (s *Service) authenticateLink(ctx context.Context, app latchkey.App, req AuthenticateLink, sentBy *latchkey.Channel) (sessions.Tokens, error) {
	if err := s.checkGuesses(ctx, app, req.EndUser); err != nil {
		return sessions.Tokens{}, err
	}
	c, err := s.liveLink(ctx, app, req)
	if c.AppID == app.ID {
		*sentBy = c.Channel
	}
	if err != nil {
		return sessions.Tokens{}, s.countGuess(ctx, app, req.EndUser, err)
	}
	now := s.cfg.Now()
	user, err := s.cfg.Users.Get(ctx, app, c.UserID)
	if errors.Is(err, users.ErrNotFound) {
		return sessions.Tokens{}, errInvalidLink // the user left the app since the link was sent
	}
	if err != nil {
		return sessions.Tokens{}, err
	}
	if user.User.Status == latchkey.UserDisabled {
		return sessions.Tokens{}, &latchkey.Error{Code: latchkey.CodeForbidden, Message: "User is not active"}
	}
	if err := s.cfg.Sessions.Check(ctx, app, c.UserID, req.Options); err != nil {
		return sessions.Tokens{}, err
	}
	if c.Channel == latchkey.ChannelDirect {
		c.Destination = "" // a direct link proves nothing about the mailbox
	} else {
		c.Channel = latchkey.ChannelEmail
	}
	done, in, err := s.signIn(app, c, "email_magic_link", "eml", req.Options)
	if err != nil {
		return sessions.Tokens{}, err
	}
	in.ResetAttempts = resetAttempts(app, c.Subject) // a success by any method ends the failures
	if err := s.cfg.Store.ConsumeChallenge(ctx, c.ID, now, in); err != nil {
		if errors.Is(err, latchkey.ErrConflict) {
			return sessions.Tokens{}, errInvalidLink
		}
		return sessions.Tokens{}, err
	}
	return s.finish(ctx, done)
}
