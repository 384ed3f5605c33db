// Package users holds the rules of Latchkey's Users API: what a valid user
// is, how identifiers are canonicalised, and how tenant-wide users relate to
// the apps that see them.
//
// Users belong to the tenant; each app sees only the users that are its
// members. Creating a user whose identifiers already name a tenant user who
// is not yet in the calling app adds that user to the app, unchanged, as
// Mosaic does; creating one the app already has is a conflict.
package users

import (
	"context"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
)

// DefaultPageLimit is the page size of a listing that does not name one.
const DefaultPageLimit = 100

// Store is what the service needs from the database: users, and ending
// their sessions when they are disabled or leave an app.
type Store interface {
	latchkey.UserStore
	RevokeUserSessions(ctx context.Context, appID, userID string, now time.Time) (int, error)
}

// Service applies the Users API rules over a store.
type Service struct {
	store Store
	now   func() time.Time
	rand  io.Reader
}

// NewService returns a Service over store.
func NewService(store Store, now func() time.Time, rand io.Reader) *Service {
	return &Service{store: store, now: now, rand: rand}
}

// Member is a user as one app sees it.
type Member struct {
	User       latchkey.User
	Membership latchkey.AppUser
}

// ErrNotFound is the answer for a user that does not exist or is not the
// calling app's: an app cannot tell the two apart.
var ErrNotFound = &latchkey.Error{Code: latchkey.CodeNotFound, Message: "User not found"}

// Create adds a user to the calling app, as described in the package
// comment. created is false when an existing tenant user was added to the
// app instead.
func (s *Service) Create(ctx context.Context, app latchkey.App, f Fields) (m Member, created bool, err error) {
	if f.Status != nil {
		return Member{}, false, latchkey.Errorf(latchkey.CodeInvalid, "status cannot be set when creating a user")
	}
	ids, err := parseIdentifiers(f)
	if err != nil {
		return Member{}, false, err
	}
	if ids.emailKey == "" && ids.phone == "" {
		return Member{}, false, latchkey.Errorf(latchkey.CodeInvalid, "email or phone_number is required")
	}
	// A concurrent create may take an identifier between our look-up and
	// our insert; the second pass then finds the winner.
	for attempt := 0; ; attempt++ {
		m, created, err = s.createOnce(ctx, app, f, ids)
		if !errors.Is(err, latchkey.ErrConflict) || attempt == 1 {
			break
		}
	}
	if errors.Is(err, latchkey.ErrConflict) {
		return Member{}, false, errTaken
	}
	return m, created, err
}

// errTaken is the conflict answer; its wording names no other user.
var errTaken = &latchkey.Error{Code: latchkey.CodeConflict, Message: "A user with this identifier already exists"}

func (s *Service) createOnce(ctx context.Context, app latchkey.App, f Fields, ids identifiers) (Member, bool, error) {
	existing, err := s.owners(ctx, ids, "")
	if err != nil {
		return Member{}, false, err
	}
	switch len(existing) {
	case 0:
		return s.insert(ctx, app, f, ids)
	case 1:
		return s.join(ctx, app, f, existing[0])
	default:
		return Member{}, false, latchkey.Errorf(latchkey.CodeConflict, "These identifiers belong to different users")
	}
}

// insert creates a new Pending user in the app.
func (s *Service) insert(ctx context.Context, app latchkey.App, f Fields, ids identifiers) (Member, bool, error) {
	id, err := secrets.NewID(s.rand)
	if err != nil {
		return Member{}, false, err
	}
	now := s.now()
	u := latchkey.User{ID: id, Status: latchkey.UserPending, StatusChangedAt: now, CreatedAt: now, UpdatedAt: now}
	ids.apply(&u)
	if err := applyProfile(&u.Profile, f); err != nil {
		return Member{}, false, err
	}
	membership := latchkey.AppUser{AppID: app.ID, UserID: id, ExternalAccountID: trimmed(f.ExternalAccountID), AddedAt: now}
	if membership.CustomAppData, err = objectOrNil("custom_app_data", f.CustomAppData); err != nil {
		return Member{}, false, err
	}
	if err := s.store.CreateUser(ctx, u, membership); err != nil {
		return Member{}, false, err
	}
	return Member{User: u, Membership: membership}, true, nil
}

// join adds an existing tenant user to the app without changing the user.
func (s *Service) join(ctx context.Context, app latchkey.App, f Fields, u latchkey.User) (Member, bool, error) {
	_, err := s.store.GetAppUser(ctx, app.ID, u.ID)
	switch {
	case err == nil:
		return Member{}, false, errTaken
	case !errors.Is(err, latchkey.ErrNotFound):
		return Member{}, false, err
	}
	membership := latchkey.AppUser{AppID: app.ID, UserID: u.ID, ExternalAccountID: trimmed(f.ExternalAccountID), AddedAt: s.now()}
	if membership.CustomAppData, err = objectOrNil("custom_app_data", f.CustomAppData); err != nil {
		return Member{}, false, err
	}
	if err := s.store.AddAppUser(ctx, membership); err != nil {
		return Member{}, false, err
	}
	return Member{User: u, Membership: membership}, false, nil
}

// owners returns the distinct users, other than except, that hold any of the
// identifiers.
func (s *Service) owners(ctx context.Context, ids identifiers, except string) ([]latchkey.User, error) {
	lookups := []struct {
		value string
		find  func(context.Context, string) (latchkey.User, error)
	}{
		{ids.emailKey, s.store.GetUserByEmail},
		{ids.phone, s.store.GetUserByPhone},
		{ids.usernameKey, s.store.GetUserByUsername},
		{ids.externalUserID, s.store.GetUserByExternalID},
	}
	var found []latchkey.User
	seen := map[string]bool{except: true}
	for _, l := range lookups {
		if l.value == "" {
			continue
		}
		u, err := l.find(ctx, l.value)
		if errors.Is(err, latchkey.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !seen[u.ID] {
			seen[u.ID] = true
			found = append(found, u)
		}
	}
	return found, nil
}

// Get returns a user of the app by ID.
func (s *Service) Get(ctx context.Context, app latchkey.App, id string) (Member, error) {
	return s.member(ctx, app, latchkey.ByID, id)
}

// GetByEmail returns the app's user with this primary email.
func (s *Service) GetByEmail(ctx context.Context, app latchkey.App, email string) (Member, error) {
	_, key, err := CanonicalEmail(email)
	if err != nil {
		return Member{}, ErrNotFound
	}
	return s.member(ctx, app, latchkey.ByEmail, key)
}

// GetByPhone returns the app's user with this primary phone number.
func (s *Service) GetByPhone(ctx context.Context, app latchkey.App, phone string) (Member, error) {
	p, err := NormalizePhone(phone)
	if err != nil {
		return Member{}, ErrNotFound
	}
	return s.member(ctx, app, latchkey.ByPhone, p)
}

// GetByUsername returns the app's user with this username.
func (s *Service) GetByUsername(ctx context.Context, app latchkey.App, username string) (Member, error) {
	_, key, err := CanonicalUsername(username)
	if err != nil {
		return Member{}, ErrNotFound
	}
	return s.member(ctx, app, latchkey.ByUsername, key)
}

// GetByExternalID returns the app's user with this external user ID.
func (s *Service) GetByExternalID(ctx context.Context, app latchkey.App, externalID string) (Member, error) {
	return s.member(ctx, app, latchkey.ByExternalID, externalID)
}

// GetByIdentifier returns the app's user whose identifier called name (in
// the camelCase of Mosaic's Users API: email, phoneNumber, externalUserId,
// username) is value. Any other name is invalid input, not "not found": the
// caller asked for something Latchkey's users do not hold.
func (s *Service) GetByIdentifier(ctx context.Context, app latchkey.App, name, value string) (Member, error) {
	find, ok := map[string]func(context.Context, latchkey.App, string) (Member, error){
		"email":          s.GetByEmail,
		"phoneNumber":    s.GetByPhone,
		"externalUserId": s.GetByExternalID,
		"username":       s.GetByUsername,
	}[name]
	switch {
	case name == "":
		return Member{}, latchkey.Errorf(latchkey.CodeInvalid, "identifier_name is required")
	case !ok:
		return Member{}, latchkey.Errorf(latchkey.CodeInvalid, "identifier_name must be one of email, phoneNumber, externalUserId, username")
	case value == "":
		return Member{}, latchkey.Errorf(latchkey.CodeInvalid, "identifier_value is required")
	}
	return find(ctx, app, value)
}

// Count returns how many users the app has.
func (s *Service) Count(ctx context.Context, app latchkey.App) (int, error) {
	page, err := s.List(ctx, app, latchkey.UserFilter{Limit: 1})
	return page.Total, err
}

// member looks up a user of the app: a user outside the app is not found.
func (s *Service) member(ctx context.Context, app latchkey.App, key latchkey.UserKey, value string) (Member, error) {
	u, m, err := s.store.GetMember(ctx, app.ID, key, value)
	if errors.Is(err, latchkey.ErrNotFound) {
		return Member{}, ErrNotFound
	}
	if err != nil {
		return Member{}, err
	}
	return Member{User: u, Membership: m}, nil
}

// List returns one page of the app's users. filter.AppID is set from app.
func (s *Service) List(ctx context.Context, app latchkey.App, filter latchkey.UserFilter) (latchkey.UserPage, error) {
	filter.AppID = app.ID
	if filter.Limit == 0 {
		filter.Limit = DefaultPageLimit
	}
	if filter.Limit < 0 || filter.Limit > latchkey.MaxUserPageLimit {
		return latchkey.UserPage{}, latchkey.Errorf(latchkey.CodeInvalid, "page_limit must be between 1 and %d", latchkey.MaxUserPageLimit)
	}
	if filter.Offset < 0 {
		return latchkey.UserPage{}, latchkey.Errorf(latchkey.CodeInvalid, "page_offset must not be negative")
	}
	switch filter.Sort {
	case "":
		filter.Sort = latchkey.SortCreatedAt
	case latchkey.SortCreatedAt, latchkey.SortEmail, latchkey.SortPhoneNumber, latchkey.SortLastAuth:
	default:
		return latchkey.UserPage{}, latchkey.Errorf(latchkey.CodeInvalid, "sort_field must be one of created_at, email, phone_number, last_auth")
	}
	if len(filter.Prefix) > maxEmailLength || hasControl(filter.Prefix) || !utf8.ValidString(filter.Prefix) {
		return latchkey.UserPage{}, latchkey.Errorf(latchkey.CodeInvalid, "search_prefix must be at most %d printable characters", maxEmailLength)
	}
	filter.Prefix = prefixKey(filter.Prefix)
	return s.store.ListUsers(ctx, filter)
}

// Update changes a user of the app. Objects and lists are replaced,
// custom_data is merged shallowly, a new email or phone number is
// unverified, and a status change is timestamped.
func (s *Service) Update(ctx context.Context, app latchkey.App, id string, f Fields) (Member, error) {
	ids, err := parseIdentifiers(f)
	if err != nil {
		return Member{}, err
	}
	if f.Status != nil && !f.Status.Valid() {
		return Member{}, latchkey.Errorf(latchkey.CodeInvalid, "status must be one of Active, Disabled, Pending")
	}
	taken, err := s.owners(ctx, ids, id)
	if err != nil {
		return Member{}, err
	}
	if len(taken) > 0 {
		return Member{}, errTaken
	}
	u, m, err := s.store.UpdateUserInApp(ctx, app.ID, id, func(u *latchkey.User, m *latchkey.AppUser) error {
		return s.applyUpdate(u, m, f, ids)
	})
	switch {
	case errors.Is(err, latchkey.ErrNotFound):
		return Member{}, ErrNotFound
	case errors.Is(err, latchkey.ErrConflict):
		return Member{}, errTaken
	case err != nil:
		return Member{}, err
	}
	if u.Status == latchkey.UserDisabled {
		// A disabled user's sessions end everywhere (ASVS 7.4.2).
		if _, err := s.store.RevokeUserSessions(ctx, "", u.ID, s.now()); err != nil {
			return Member{}, err
		}
	}
	return Member{User: u, Membership: m}, nil
}

func (s *Service) applyUpdate(u *latchkey.User, m *latchkey.AppUser, f Fields, ids identifiers) error {
	now := s.now()
	before := *u
	ids.applySent(u, f)
	if u.EmailKey == "" && u.Phone == "" {
		return latchkey.Errorf(latchkey.CodeInvalid, "a user must keep an email or a phone_number")
	}
	if u.EmailKey != before.EmailKey {
		u.EmailVerifiedAt = time.Time{}
	}
	if u.Phone != before.Phone {
		u.PhoneVerifiedAt = time.Time{}
	}
	if f.Status != nil && *f.Status != u.Status {
		u.Status, u.StatusChangedAt = *f.Status, now
	}
	if err := applyProfile(&u.Profile, f); err != nil {
		return err
	}
	if f.ExternalAccountID != nil {
		m.ExternalAccountID = trimmed(f.ExternalAccountID)
	}
	if f.CustomAppData != nil {
		data, err := objectOrNil("custom_app_data", f.CustomAppData)
		if err != nil {
			return err
		}
		m.CustomAppData = data
	}
	u.UpdatedAt = now
	return nil
}

// RemoveFromApp ends the user's membership in the app, and their sessions
// in it; the user stays in the tenant and in other apps.
func (s *Service) RemoveFromApp(ctx context.Context, app latchkey.App, id string) error {
	err := s.store.RemoveAppUser(ctx, app.ID, id)
	if errors.Is(err, latchkey.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	_, err = s.store.RevokeUserSessions(ctx, app.ID, id, s.now())
	return err
}

// Delete removes the user from the whole tenant, with everything that refers
// to it. Only management apps may call it; the HTTP layer checks that.
func (s *Service) Delete(ctx context.Context, id string) error {
	err := s.store.DeleteUser(ctx, id)
	if errors.Is(err, latchkey.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// identifiers are the unique identifiers of a request, validated and in
// canonical form. A field that was not sent, or sent empty, is empty.
type identifiers struct {
	email, emailKey       string
	phone                 string
	username, usernameKey string
	externalUserID        string
}

func parseIdentifiers(f Fields) (identifiers, error) {
	var ids identifiers
	var err error
	if v := trimmed(f.Email); v != "" {
		if ids.email, ids.emailKey, err = CanonicalEmail(v); err != nil {
			return ids, err
		}
	}
	if v := trimmed(f.PhoneNumber); v != "" {
		if ids.phone, err = NormalizePhone(v); err != nil {
			return ids, err
		}
	}
	if v := trimmed(f.Username); v != "" {
		if ids.username, ids.usernameKey, err = CanonicalUsername(v); err != nil {
			return ids, err
		}
	}
	if v := trimmed(f.ExternalUserID); v != "" {
		if err := validateText("external_user_id", v, maxTextLength); err != nil {
			return ids, err
		}
		ids.externalUserID = v
	}
	return ids, nil
}

// apply writes every identifier into a new user.
func (ids identifiers) apply(u *latchkey.User) {
	u.Email, u.EmailKey = ids.email, ids.emailKey
	u.Phone = ids.phone
	u.Username, u.UsernameKey = ids.username, ids.usernameKey
	u.ExternalUserID = ids.externalUserID
}

// applySent writes the identifiers that were sent (an empty one clears).
func (ids identifiers) applySent(u *latchkey.User, f Fields) {
	if f.Email != nil {
		u.Email, u.EmailKey = ids.email, ids.emailKey
	}
	if f.PhoneNumber != nil {
		u.Phone = ids.phone
	}
	if f.Username != nil {
		u.Username, u.UsernameKey = ids.username, ids.usernameKey
	}
	if f.ExternalUserID != nil {
		u.ExternalUserID = ids.externalUserID
	}
}
