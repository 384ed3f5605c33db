package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

func newUser(email, phone string) latchkey.User {
	n := next()
	at := base.Add(time.Duration(n) * time.Second)
	u := latchkey.User{
		ID:              fmt.Sprintf("user%d", n),
		Email:           email,
		EmailKey:        email,
		Phone:           phone,
		Status:          latchkey.UserPending,
		StatusChangedAt: at,
		CreatedAt:       at,
		UpdatedAt:       at,
	}
	return u
}

func member(appID string) latchkey.AppUser {
	return latchkey.AppUser{AppID: appID, AddedAt: base}
}

func mustCreateUser(t *testing.T, s latchkey.Store, appID, email, phone string) latchkey.User {
	t.Helper()
	u := newUser(email, phone)
	mustNoErr(t, s.CreateUser(ctx(), u, member(appID)), "CreateUser")
	return u
}

func testUserCRUD(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Users")
	u := newUser("Ada@Example.com", "+14155550100")
	u.EmailKey = "ada@example.com"
	u.Username, u.UsernameKey = "Ada", "ada"
	u.ExternalUserID = "ext-1"
	u.EmailVerifiedAt = base.Add(time.Minute)
	u.LastAuthAt = base.Add(2 * time.Minute)
	u.Profile = latchkey.Profile{
		SecondaryEmails: []string{"ada2@example.com"},
		Name:            json.RawMessage(`{"first_name":"Ada"}`),
		CustomData:      json.RawMessage(`{"plan":"pro"}`),
		Language:        "en",
	}
	u.Identities = []latchkey.Identity{{ProviderName: "Transmit", ProviderType: "Native", AuthType: "email_otp",
		Identifier: "ada@example.com", FirstAuthDate: base, LastAuthDate: base}}
	m := member(app.ID)
	m.ExternalAccountID = "acct-9"
	m.CustomAppData = json.RawMessage(`{"tier":1}`)
	mustNoErr(t, s.CreateUser(ctx(), u, m), "CreateUser")

	got, err := s.GetUser(ctx(), u.ID)
	mustNoErr(t, err, "GetUser")
	if !reflect.DeepEqual(got, u) {
		t.Fatalf("GetUser = %+v\nwant %+v", got, u)
	}
	lookups := map[string]func() (latchkey.User, error){
		"GetUserByEmail":      func() (latchkey.User, error) { return s.GetUserByEmail(ctx(), "ada@example.com") },
		"GetUserByPhone":      func() (latchkey.User, error) { return s.GetUserByPhone(ctx(), "+14155550100") },
		"GetUserByUsername":   func() (latchkey.User, error) { return s.GetUserByUsername(ctx(), "ada") },
		"GetUserByExternalID": func() (latchkey.User, error) { return s.GetUserByExternalID(ctx(), "ext-1") },
	}
	for name, lookup := range lookups {
		got, err := lookup()
		mustNoErr(t, err, name)
		if got.ID != u.ID {
			t.Fatalf("%s = %q; want %q", name, got.ID, u.ID)
		}
	}
	for name, lookup := range map[string]func() (latchkey.User, error){
		"GetUser":             func() (latchkey.User, error) { return s.GetUser(ctx(), "nobody") },
		"GetUserByEmail":      func() (latchkey.User, error) { return s.GetUserByEmail(ctx(), "Ada@Example.com") },
		"GetUserByPhone":      func() (latchkey.User, error) { return s.GetUserByPhone(ctx(), "+14155550199") },
		"GetUserByUsername":   func() (latchkey.User, error) { return s.GetUserByUsername(ctx(), "Ada") },
		"GetUserByExternalID": func() (latchkey.User, error) { return s.GetUserByExternalID(ctx(), "ext-2") },
	} {
		_, err := lookup()
		wantErr(t, err, latchkey.ErrNotFound, name+" of an unknown value")
	}

	for key, value := range map[latchkey.UserKey]string{latchkey.ByID: u.ID, latchkey.ByEmail: "ada@example.com",
		latchkey.ByPhone: "+14155550100", latchkey.ByUsername: "ada", latchkey.ByExternalID: "ext-1"} {
		gu, gm, err := s.GetMember(ctx(), app.ID, key, value)
		mustNoErr(t, err, "GetMember by "+string(key))
		if gu.ID != u.ID || gm.AppID != app.ID || gm.UserID != u.ID || gm.ExternalAccountID != "acct-9" {
			t.Fatalf("GetMember by %s = %+v, %+v", key, gu, gm)
		}
		_, _, err = s.GetMember(ctx(), "other-app", key, value)
		wantErr(t, err, latchkey.ErrNotFound, "GetMember in an app the user is not in")
	}
	_, _, err = s.GetMember(ctx(), app.ID, latchkey.ByEmail, "nobody@example.com")
	wantErr(t, err, latchkey.ErrNotFound, "GetMember of an unknown email")
	gotMember, err := s.GetAppUser(ctx(), app.ID, u.ID)
	mustNoErr(t, err, "GetAppUser")
	m.UserID = u.ID
	if !reflect.DeepEqual(gotMember, m) {
		t.Fatalf("GetAppUser = %+v\nwant %+v", gotMember, m)
	}

	updated, err := s.UpdateUser(ctx(), u.ID, func(x *latchkey.User) error {
		x.Status = latchkey.UserActive
		x.Phone = ""
		x.Profile.CustomData = json.RawMessage(`{"plan":"team"}`)
		x.UpdatedAt = base.Add(time.Hour)
		return nil
	})
	mustNoErr(t, err, "UpdateUser")
	got, err = s.GetUser(ctx(), u.ID)
	mustNoErr(t, err, "GetUser after update")
	if !reflect.DeepEqual(got, updated) || got.Status != latchkey.UserActive || got.Phone != "" {
		t.Fatalf("GetUser after update = %+v\nwant %+v", got, updated)
	}
	_, err = s.GetUserByPhone(ctx(), "+14155550100")
	wantErr(t, err, latchkey.ErrNotFound, "GetUserByPhone after clearing the phone")

	boom := errors.New("rejected")
	_, err = s.UpdateUser(ctx(), u.ID, func(x *latchkey.User) error { x.Email = "x"; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateUser with failing update: err = %v; want the update's error", err)
	}
	_, err = s.UpdateUser(ctx(), "nobody", func(*latchkey.User) error { return nil })
	wantErr(t, err, latchkey.ErrNotFound, "UpdateUser of a missing user")

	mustNoErr(t, s.DeleteUser(ctx(), u.ID), "DeleteUser")
	_, err = s.GetUser(ctx(), u.ID)
	wantErr(t, err, latchkey.ErrNotFound, "GetUser after delete")
	wantErr(t, s.DeleteUser(ctx(), u.ID), latchkey.ErrNotFound, "DeleteUser twice")
}

func testUserUniqueIdentifiers(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Unique")
	first := newUser("a@example.com", "+14155550100")
	first.Username, first.UsernameKey, first.ExternalUserID = "A", "a", "ext-a"
	mustNoErr(t, s.CreateUser(ctx(), first, member(app.ID)), "CreateUser")

	clashes := map[string]func(*latchkey.User){
		"email":            func(u *latchkey.User) { u.EmailKey = "a@example.com" },
		"phone":            func(u *latchkey.User) { u.Phone = "+14155550100" },
		"username":         func(u *latchkey.User) { u.UsernameKey = "a" },
		"external_user_id": func(u *latchkey.User) { u.ExternalUserID = "ext-a" },
		"id":               func(u *latchkey.User) { u.ID = first.ID },
	}
	for field, clash := range clashes {
		u := newUser("other@example.com", "")
		clash(&u)
		wantErr(t, s.CreateUser(ctx(), u, member(app.ID)), latchkey.ErrConflict, "CreateUser with a taken "+field)
	}
	// A failed create leaves nothing behind: the membership insert is in
	// the same transaction as the user.
	page, err := s.ListUsers(ctx(), latchkey.UserFilter{AppID: app.ID, Limit: 10})
	mustNoErr(t, err, "ListUsers")
	if page.Total != 1 {
		t.Fatalf("after refused creates the app has %d users; want 1", page.Total)
	}
	// Users without an email, phone or username do not collide on emptiness.
	a := newUser("", "+14155550101")
	a.EmailKey = ""
	b := newUser("", "+14155550102")
	b.EmailKey = ""
	mustNoErr(t, s.CreateUser(ctx(), a, member(app.ID)), "CreateUser without email")
	mustNoErr(t, s.CreateUser(ctx(), b, member(app.ID)), "second CreateUser without email")
	// A membership in a missing app is refused, and so is the user.
	c := newUser("c@example.com", "")
	wantErr(t, s.CreateUser(ctx(), c, member("no-such-app")), latchkey.ErrNotFound, "CreateUser into a missing app")
	_, err = s.GetUser(ctx(), c.ID)
	wantErr(t, err, latchkey.ErrNotFound, "GetUser after a refused create")
}

func testUserUpdateConflict(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Conflict")
	a := mustCreateUser(t, s, app.ID, "a@example.com", "")
	mustCreateUser(t, s, app.ID, "b@example.com", "")
	_, err := s.UpdateUser(ctx(), a.ID, func(u *latchkey.User) error {
		u.Email, u.EmailKey = "b@example.com", "b@example.com"
		return nil
	})
	wantErr(t, err, latchkey.ErrConflict, "UpdateUser to a taken email")
	got, err := s.GetUser(ctx(), a.ID)
	mustNoErr(t, err, "GetUser")
	if got.EmailKey != "a@example.com" {
		t.Fatalf("email after refused update = %q; want unchanged", got.EmailKey)
	}
}

func testUserMembership(t *testing.T, s latchkey.Store) {
	one := mustCreateApp(t, s, "One")
	two := mustCreateApp(t, s, "Two")
	u := mustCreateUser(t, s, one.ID, "m@example.com", "")

	_, err := s.GetAppUser(ctx(), two.ID, u.ID)
	wantErr(t, err, latchkey.ErrNotFound, "GetAppUser before joining")
	m := latchkey.AppUser{AppID: two.ID, UserID: u.ID, ExternalAccountID: "x", AddedAt: base}
	mustNoErr(t, s.AddAppUser(ctx(), m), "AddAppUser")
	wantErr(t, s.AddAppUser(ctx(), m), latchkey.ErrConflict, "AddAppUser twice")
	wantErr(t, s.AddAppUser(ctx(), latchkey.AppUser{AppID: two.ID, UserID: "nobody", AddedAt: base}),
		latchkey.ErrNotFound, "AddAppUser of a missing user")
	wantErr(t, s.AddAppUser(ctx(), latchkey.AppUser{AppID: "no-app", UserID: u.ID, AddedAt: base}),
		latchkey.ErrNotFound, "AddAppUser to a missing app")

	updatedUser, updated, err := s.UpdateUserInApp(ctx(), two.ID, u.ID, func(x *latchkey.User, m *latchkey.AppUser) error {
		m.CustomAppData = json.RawMessage(`{"k":"v"}`)
		x.Profile.Language = "fr"
		return nil
	})
	mustNoErr(t, err, "UpdateUserInApp")
	got, err := s.GetAppUser(ctx(), two.ID, u.ID)
	mustNoErr(t, err, "GetAppUser")
	if !reflect.DeepEqual(got, updated) || got.ExternalAccountID != "x" {
		t.Fatalf("GetAppUser after update = %+v; want %+v", got, updated)
	}
	gotUser, err := s.GetUser(ctx(), u.ID)
	mustNoErr(t, err, "GetUser")
	if !reflect.DeepEqual(gotUser, updatedUser) || gotUser.Profile.Language != "fr" {
		t.Fatalf("GetUser after UpdateUserInApp = %+v; want %+v", gotUser, updatedUser)
	}
	_, _, err = s.UpdateUserInApp(ctx(), two.ID, "nobody", func(*latchkey.User, *latchkey.AppUser) error { return nil })
	wantErr(t, err, latchkey.ErrNotFound, "UpdateUserInApp of a non-member")
	other := mustCreateUser(t, s, one.ID, "other@example.com", "")
	_, _, err = s.UpdateUserInApp(ctx(), two.ID, other.ID, func(*latchkey.User, *latchkey.AppUser) error { return nil })
	wantErr(t, err, latchkey.ErrNotFound, "UpdateUserInApp of a user of another app")
	_, _, err = s.UpdateUserInApp(ctx(), one.ID, other.ID, func(x *latchkey.User, _ *latchkey.AppUser) error {
		x.EmailKey = "m@example.com"
		return nil
	})
	wantErr(t, err, latchkey.ErrConflict, "UpdateUserInApp to a taken email")

	mustNoErr(t, s.RemoveAppUser(ctx(), two.ID, u.ID), "RemoveAppUser")
	wantErr(t, s.RemoveAppUser(ctx(), two.ID, u.ID), latchkey.ErrNotFound, "RemoveAppUser twice")
	if _, err := s.GetAppUser(ctx(), one.ID, u.ID); err != nil {
		t.Fatalf("membership in the other app after removal: %v; want kept", err)
	}
	if _, err := s.GetUser(ctx(), u.ID); err != nil {
		t.Fatalf("user after leaving one app: %v; want kept in the tenant", err)
	}
}

func testUserDeleteCascades(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Cascade")
	u := mustCreateUser(t, s, app.ID, "d@example.com", "")
	mustNoErr(t, s.DeleteUser(ctx(), u.ID), "DeleteUser")
	_, err := s.GetAppUser(ctx(), app.ID, u.ID)
	wantErr(t, err, latchkey.ErrNotFound, "GetAppUser after DeleteUser")
	// The email is free again.
	mustCreateUser(t, s, app.ID, "d@example.com", "")
}

func testAppDeleteKeepsUsers(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Gone")
	u := mustCreateUser(t, s, app.ID, "k@example.com", "")
	mustNoErr(t, s.DeleteApp(ctx(), app.ID), "DeleteApp")
	if _, err := s.GetUser(ctx(), u.ID); err != nil {
		t.Fatalf("GetUser after its app was deleted: %v; want the tenant user kept", err)
	}
	_, err := s.GetAppUser(ctx(), app.ID, u.ID)
	wantErr(t, err, latchkey.ErrNotFound, "GetAppUser after DeleteApp")
}

func testListUsers(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "List")
	other := mustCreateApp(t, s, "Other")
	c := mustCreateUser(t, s, app.ID, "carol@example.com", "+14155550103")
	a := mustCreateUser(t, s, app.ID, "alice@example.com", "+33612345678")
	b := mustCreateUser(t, s, app.ID, "", "+14155550101")
	mustCreateUser(t, s, other.ID, "alex@example.com", "")

	list := func(f latchkey.UserFilter) latchkey.UserPage {
		t.Helper()
		f.AppID = app.ID
		if f.Limit == 0 {
			f.Limit = 10
		}
		page, err := s.ListUsers(ctx(), f)
		mustNoErr(t, err, "ListUsers")
		if len(page.Members) != len(page.Users) {
			t.Fatalf("ListUsers returned %d users but %d memberships", len(page.Users), len(page.Members))
		}
		for i, m := range page.Members {
			if m.UserID != page.Users[i].ID || m.AppID != app.ID {
				t.Fatalf("membership %d = %+v; want the listed user's membership in the app", i, m)
			}
		}
		return page
	}
	cases := []struct {
		name   string
		filter latchkey.UserFilter
		want   []string
		total  int
	}{
		{"created ascending", latchkey.UserFilter{}, []string{c.ID, a.ID, b.ID}, 3},
		{"created descending", latchkey.UserFilter{Descending: true}, []string{b.ID, a.ID, c.ID}, 3},
		{"email ascending, empty first", latchkey.UserFilter{Sort: latchkey.SortEmail}, []string{b.ID, a.ID, c.ID}, 3},
		{"phone ascending", latchkey.UserFilter{Sort: latchkey.SortPhoneNumber}, []string{b.ID, c.ID, a.ID}, 3},
		{"page", latchkey.UserFilter{Offset: 1, Limit: 1}, []string{a.ID}, 3},
		{"past the end", latchkey.UserFilter{Offset: 5}, nil, 3},
		{"email prefix", latchkey.UserFilter{Prefix: "al"}, []string{a.ID}, 1},
		{"phone prefix", latchkey.UserFilter{Prefix: "+1415"}, []string{c.ID, b.ID}, 2},
		{"no match", latchkey.UserFilter{Prefix: "zz"}, nil, 0},
	}
	for _, tc := range cases {
		page := list(tc.filter)
		var got []string
		for _, u := range page.Users {
			got = append(got, u.ID)
		}
		if !reflect.DeepEqual(got, tc.want) || page.Total != tc.total {
			t.Errorf("%s: ids %v total %d; want %v total %d", tc.name, got, page.Total, tc.want, tc.total)
		}
	}
}
