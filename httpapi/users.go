package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/users"
)

// userBody is the JSON body of create and update (ApiCreateUserInput and
// ApiUpdateUserInput).
type userBody struct {
	Email                 *string         `json:"email"`
	PhoneNumber           *string         `json:"phone_number"`
	Username              *string         `json:"username"`
	SecondaryEmails       *[]string       `json:"secondary_emails"`
	SecondaryPhoneNumbers *[]string       `json:"secondary_phone_numbers"`
	Birthday              *string         `json:"birthday"`
	Address               json.RawMessage `json:"address"`
	Name                  json.RawMessage `json:"name"`
	ExternalAccountID     *string         `json:"external_account_id"`
	CustomAppData         json.RawMessage `json:"custom_app_data"`
	Picture               *string         `json:"picture"`
	Language              *string         `json:"language"`
	CustomData            json.RawMessage `json:"custom_data"`
	ExternalUserID        *string         `json:"external_user_id"`
	Status                *string         `json:"status"`
	Credentials           json.RawMessage `json:"credentials"`
	DelegatedAccess       json.RawMessage `json:"delegated_access"`
}

func (b userBody) fields() (users.Fields, error) {
	if b.Credentials != nil {
		return users.Fields{}, latchkey.Errorf(latchkey.CodeUnsupported, "credentials are not supported: Latchkey signs users in without passwords")
	}
	if b.DelegatedAccess != nil {
		return users.Fields{}, latchkey.Errorf(latchkey.CodeUnsupported, "delegated_access is not supported")
	}
	f := users.Fields{
		Email: b.Email, PhoneNumber: b.PhoneNumber, Username: b.Username,
		SecondaryEmails: b.SecondaryEmails, SecondaryPhoneNumbers: b.SecondaryPhoneNumbers,
		Birthday: b.Birthday, Address: b.Address, Name: b.Name,
		ExternalAccountID: b.ExternalAccountID, CustomAppData: b.CustomAppData,
		Picture: b.Picture, Language: b.Language, CustomData: b.CustomData, ExternalUserID: b.ExternalUserID,
	}
	if b.Status != nil {
		s := latchkey.UserStatus(*b.Status)
		f.Status = &s
	}
	return f, nil
}

func decodeUserBody(r *http.Request) (users.Fields, error) {
	var b userBody
	if err := decodeJSON(r, &b); err != nil {
		return users.Fields{}, err
	}
	return b.fields()
}

// createUser is POST /cis/v1/users: 201 {"result": ApiUser}. A tenant user
// that is not yet in the app is added to it unchanged, also with 201.
func (h *handler) createUser(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	f, err := decodeUserBody(r)
	if err != nil {
		return err
	}
	m, _, err := h.Users.Create(r.Context(), app, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"result": toAPIUser(m, app)})
	return nil
}

// updateUser is PUT /cis/v1/users/{user_id}.
func (h *handler) updateUser(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	f, err := decodeUserBody(r)
	if err != nil {
		return err
	}
	m, err := h.Users.Update(r.Context(), app, r.PathValue("user_id"), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": toAPIUser(m, app)})
	return nil
}

// userFinder is a users.Service look-up by one path value.
type userFinder func(ctx context.Context, app latchkey.App, value string) (users.Member, error)

// getUserBy serves a GET look-up of one user by the path value param:
// 200 {"result": ApiUser}, or 404 when the app has no such user.
func (h *handler) getUserBy(find userFinder, param string) appEndpoint {
	return func(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
		m, err := find(r.Context(), app, r.PathValue(param))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"result": toAPIUser(m, app)})
		return nil
	}
}

// getUserByIdentifier is GET /cis/v1/users/identifier?identifier_name=
// &identifier_value=: 200 {"result": ApiUser}, 404 when the app has no
// such user, 400 for an identifier name Latchkey's users do not hold.
func (h *handler) getUserByIdentifier(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	q := r.URL.Query()
	m, err := h.Users.GetByIdentifier(r.Context(), app, q.Get("identifier_name"), q.Get("identifier_value"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": toAPIUser(m, app)})
	return nil
}

// countUsers is GET /cis/v1/users/count: {"result": {"user_count": N}},
// the number of the app's users. Its search parameter is refused as the
// listing's is: Latchkey's users take no SCIM filter.
func (h *handler) countUsers(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	if err := refuseSearch(r); err != nil {
		return err
	}
	n, err := h.Users.Count(r.Context(), app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": map[string]int{"user_count": n}})
	return nil
}

// refuseSearch answers Mosaic's SCIM search parameter, which Latchkey does
// not support.
func refuseSearch(r *http.Request) error {
	if r.URL.Query().Get("search") != "" {
		return latchkey.Errorf(latchkey.CodeUnsupported, "search (SCIM filters) is not supported; use search_prefix")
	}
	return nil
}

// listUsers is GET /cis/v1/users with Mosaic's paging and prefix search.
func (h *handler) listUsers(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	filter, err := userFilter(r)
	if err != nil {
		return err
	}
	page, err := h.Users.List(r.Context(), app, filter)
	if err != nil {
		return err
	}
	result := make([]apiUser, len(page.Users))
	for i := range page.Users {
		result[i] = toAPIUser(users.Member{User: page.Users[i], Membership: page.Members[i]}, app)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"total_count": page.Total,
		"page_info": map[string]bool{
			"has_next_page":     filter.Offset+len(page.Users) < page.Total,
			"has_previous_page": filter.Offset > 0,
		},
		"result": result,
	})
	return nil
}

func userFilter(r *http.Request) (latchkey.UserFilter, error) {
	q := r.URL.Query()
	var f latchkey.UserFilter
	if err := refuseSearch(r); err != nil {
		return f, err
	}
	var err error
	if f.Offset, err = intParam(q.Get("page_offset"), "page_offset"); err != nil {
		return f, err
	}
	if f.Limit, err = intParam(q.Get("page_limit"), "page_limit"); err != nil {
		return f, err
	}
	if q.Has("page_limit") && f.Limit == 0 {
		return f, latchkey.Errorf(latchkey.CodeInvalid, "page_limit must be between 1 and %d", latchkey.MaxUserPageLimit)
	}
	f.Prefix = q.Get("search_prefix")
	f.Sort = latchkey.UserSort(q.Get("sort_field"))
	switch q.Get("sort_order") {
	case "", "asc":
	case "desc":
		f.Descending = true
	default:
		return f, latchkey.Errorf(latchkey.CodeInvalid, "sort_order must be asc or desc")
	}
	return f, nil
}

func intParam(v, name string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, latchkey.Errorf(latchkey.CodeInvalid, "%s must be a whole number", name)
	}
	return n, nil
}

// removeUserFromApp is DELETE /cis/v1/users/{user_id}/apps: 204.
func (h *handler) removeUserFromApp(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	if err := h.Users.RemoveFromApp(r.Context(), app, r.PathValue("user_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteUser is DELETE /cis/v1/manage/users/{user_id}: the user and all
// their data leave the tenant; 204.
func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	if err := h.Users.Delete(r.Context(), r.PathValue("user_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiUser is Mosaic's ApiUser as one app sees the user.
type apiUser struct {
	UserID                string          `json:"user_id"`
	Email                 *apiEmail       `json:"email,omitempty"`
	SecondaryEmails       []apiEmail      `json:"secondary_emails"`
	PhoneNumber           *apiPhone       `json:"phone_number,omitempty"`
	SecondaryPhoneNumbers []apiPhone      `json:"secondary_phone_numbers"`
	Username              string          `json:"username,omitempty"`
	Birthday              string          `json:"birthday,omitempty"`
	Address               json.RawMessage `json:"address,omitempty"`
	Name                  json.RawMessage `json:"name,omitempty"`
	Status                string          `json:"status"`
	StatusChangedAt       string          `json:"status_changed_at,omitempty"`
	CreatedAt             int64           `json:"created_at"`
	UpdatedAt             int64           `json:"updated_at"`
	Identities            []apiIdentity   `json:"identities"`
	LastAuth              string          `json:"last_auth,omitempty"`
	ExternalAccountID     string          `json:"external_account_id,omitempty"`
	AppName               string          `json:"app_name"`
	CustomAppData         json.RawMessage `json:"custom_app_data,omitempty"`
	Picture               string          `json:"picture,omitempty"`
	Language              string          `json:"language,omitempty"`
	CustomData            json.RawMessage `json:"custom_data,omitempty"`
	ExternalUserID        string          `json:"external_user_id,omitempty"`
}

type apiEmail struct {
	Value         string `json:"value"`
	EmailVerified bool   `json:"email_verified"`
	VerifiedAt    string `json:"verified_at,omitempty"`
}

type apiPhone struct {
	Value               string `json:"value"`
	PhoneNumberVerified bool   `json:"phone_number_verified"`
	VerifiedAt          string `json:"verified_at,omitempty"`
}

type apiIdentity struct {
	ProviderName  string `json:"provider_name"`
	ProviderType  string `json:"provider_type"`
	AuthType      string `json:"auth_type"`
	Identifier    string `json:"identifier"`
	FirstAuthDate string `json:"first_auth_date"`
	LastAuthDate  string `json:"last_auth_date"`
}

func toAPIUser(m users.Member, app latchkey.App) apiUser {
	u, p := m.User, m.User.Profile
	out := apiUser{
		UserID: u.ID, Username: u.Username, Birthday: p.Birthday, Address: p.Address, Name: p.Name,
		Status: string(u.Status), StatusChangedAt: dateTime(u.StatusChangedAt),
		CreatedAt: latchkey.Millis(u.CreatedAt), UpdatedAt: latchkey.Millis(u.UpdatedAt),
		LastAuth: dateTime(u.LastAuthAt), ExternalAccountID: m.Membership.ExternalAccountID, AppName: app.Name,
		CustomAppData: m.Membership.CustomAppData, Picture: p.Picture, Language: p.Language,
		CustomData: p.CustomData, ExternalUserID: u.ExternalUserID,
		SecondaryEmails: []apiEmail{}, SecondaryPhoneNumbers: []apiPhone{}, Identities: []apiIdentity{},
	}
	if u.Email != "" {
		out.Email = &apiEmail{Value: u.Email, EmailVerified: !u.EmailVerifiedAt.IsZero(), VerifiedAt: dateTime(u.EmailVerifiedAt)}
	}
	if u.Phone != "" {
		out.PhoneNumber = &apiPhone{Value: u.Phone, PhoneNumberVerified: !u.PhoneVerifiedAt.IsZero(), VerifiedAt: dateTime(u.PhoneVerifiedAt)}
	}
	for _, e := range p.SecondaryEmails {
		out.SecondaryEmails = append(out.SecondaryEmails, apiEmail{Value: e})
	}
	for _, ph := range p.SecondaryPhoneNumbers {
		out.SecondaryPhoneNumbers = append(out.SecondaryPhoneNumbers, apiPhone{Value: ph})
	}
	for _, id := range u.Identities {
		out.Identities = append(out.Identities, apiIdentity{ProviderName: id.ProviderName, ProviderType: id.ProviderType,
			AuthType: id.AuthType, Identifier: id.Identifier,
			FirstAuthDate: dateTime(id.FirstAuthDate), LastAuthDate: dateTime(id.LastAuthDate)})
	}
	return out
}

// dateTime formats a time as Mosaic's date-time strings, or "" for none.
func dateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
