package httpapi

import (
	"encoding/json"
	"net/http"
	"net/netip"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/sessions"
)

// tokenOptions are the optional fields every authenticate request shares.
type tokenOptions struct {
	Resource         string                  `json:"resource"`
	Claims           json.RawMessage         `json:"claims"`
	SessionID        string                  `json:"session_id"`
	RequestID        string                  `json:"request_id"`
	OrgID            string                  `json:"org_id"`
	DeviceID         string                  `json:"device_id"`
	ClientAttributes *login.ClientAttributes `json:"client_attributes"`
}

// options checks the shared fields and returns the session options and the
// end user's address the backend forwarded.
func (o tokenOptions) options(r *http.Request) (sessions.Options, netip.Addr, error) {
	if err := checkDeviceID(o.DeviceID); err != nil {
		return sessions.Options{}, netip.Addr{}, err
	}
	if o.OrgID != "" {
		return sessions.Options{}, netip.Addr{}, latchkey.Errorf(latchkey.CodeUnsupported, "org_id (B2B organizations) is not supported")
	}
	endUser, err := endUserAddress(r, o.ClientAttributes)
	return sessions.Options{Resource: o.Resource, SessionID: o.SessionID, Claims: o.Claims}, endUser, err
}

// maxDeviceID bounds Mosaic's device_id, which is accepted and checked, not
// stored.
const maxDeviceID = 80

func checkDeviceID(id string) error {
	if len(id) > maxDeviceID {
		return latchkey.Errorf(latchkey.CodeInvalid, "device_id must be at most %d characters", maxDeviceID)
	}
	return nil
}

// sendOTPBody is ApiOtpInitRequestDto.
type sendOTPBody struct {
	Channel           string                  `json:"channel"`
	IdentifierType    string                  `json:"identifier_type"`
	Identifier        string                  `json:"identifier"`
	EmailContent      *delivery.EmailContent  `json:"email_content"`
	CustomSMSInput    *delivery.SMSInput      `json:"custom_sms_input"`
	ApprovalData      json.RawMessage         `json:"approval_data"`
	CustomEmail       string                  `json:"custom_email"`
	CustomPhoneNumber string                  `json:"custom_phone_number"`
	ExpiresIn         *float64                `json:"expires_in"`
	GenerateRequestID bool                    `json:"generate_request_id"`
	DeviceID          string                  `json:"device_id"`
	ClientAttributes  *login.ClientAttributes `json:"client_attributes"`
}

// sendOTP is POST /cis/v1/auth/otp/send.
func (h *handler) sendOTP(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	var b sendOTPBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if err := checkDeviceID(b.DeviceID); err != nil {
		return err
	}
	endUser, err := endUserAddress(r, b.ClientAttributes)
	if err != nil {
		return err
	}
	out, err := h.Login.SendOTP(r.Context(), app, login.SendOTP{
		Channel: latchkey.Channel(b.Channel), IdentifierType: b.IdentifierType, Identifier: b.Identifier,
		EmailContent: b.EmailContent, CustomSMS: b.CustomSMSInput, ApprovalData: b.ApprovalData,
		CustomEmail: b.CustomEmail, CustomPhoneNumber: b.CustomPhoneNumber, ExpiresIn: b.ExpiresIn,
		GenerateRequestID: b.GenerateRequestID, EndUser: endUser,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// authenticateOTPBody is ApiOtpTokenRequestDto.
type authenticateOTPBody struct {
	Passcode       string `json:"passcode"`
	IdentifierType string `json:"identifier_type"`
	Identifier     string `json:"identifier"`
	tokenOptions
}

// authenticateOTP is POST /cis/v1/auth/otp/authenticate.
func (h *handler) authenticateOTP(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	var b authenticateOTPBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	opts, endUser, err := b.options(r)
	if err != nil {
		return err
	}
	tokens, err := h.Login.AuthenticateOTP(r.Context(), app, login.AuthenticateOTP{Passcode: b.Passcode,
		IdentifierType: b.IdentifierType, Identifier: b.Identifier, RequestID: b.RequestID, EndUser: endUser, Options: opts})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokens)
	return nil
}

// sendLinkBody is both magic-link request shapes.
type sendLinkBody struct {
	Identifier        string                  `json:"identifier"`
	IdentifierType    string                  `json:"identifier_type"`
	Email             string                  `json:"email"`
	RedirectURI       string                  `json:"redirect_uri"`
	State             string                  `json:"state"`
	Channel           string                  `json:"channel"`
	EmailExpiration   *float64                `json:"email_expiration"`
	EmailContent      *delivery.EmailContent  `json:"email_content"`
	GenerateRequestID bool                    `json:"generate_request_id"`
	DeviceID          string                  `json:"device_id"`
	ClientAttributes  *login.ClientAttributes `json:"client_attributes"`
}

// sendLink is POST /cis/v1/auth/link/email/send.
func (h *handler) sendLink(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	var b sendLinkBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if err := checkDeviceID(b.DeviceID); err != nil {
		return err
	}
	endUser, err := endUserAddress(r, b.ClientAttributes)
	if err != nil {
		return err
	}
	out, err := h.Login.SendLink(r.Context(), app, login.SendLink{Identifier: b.Identifier, IdentifierType: b.IdentifierType,
		Email: b.Email, RedirectURI: b.RedirectURI, State: b.State, Channel: latchkey.Channel(b.Channel),
		EmailExpiration: b.EmailExpiration, EmailContent: b.EmailContent, GenerateRequestID: b.GenerateRequestID,
		EndUser: endUser})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// authenticateLinkBody is ApiMagicLinkTokenRequestDto.
type authenticateLinkBody struct {
	Code string `json:"code"`
	tokenOptions
}

// authenticateLink is POST /cis/v1/auth/link/email/authenticate.
func (h *handler) authenticateLink(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	var b authenticateLinkBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	opts, endUser, err := b.options(r)
	if err != nil {
		return err
	}
	tokens, err := h.Login.AuthenticateLink(r.Context(), app, login.AuthenticateLink{Code: b.Code, RequestID: b.RequestID,
		EndUser: endUser, Options: opts})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokens)
	return nil
}

// openLink is GET /magic-link?code=...: the link in the email. It redirects
// to the app's redirect URI with the code, and consumes nothing. The
// response is never cached and leaks no referrer.
func (h *handler) openLink(w http.ResponseWriter, r *http.Request) error {
	noStore(w)
	target, err := h.Login.OpenLink(r.Context(), r.URL.Query().Get("code"))
	if latchkey.ErrorCode(err) == latchkey.CodeInvalid {
		writeHTMLPage(w, http.StatusBadRequest, "This link is invalid or has expired",
			"Sign-in links work once and for a limited time. Go back to the app and ask for a new one.")
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}
