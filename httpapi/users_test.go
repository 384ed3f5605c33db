package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func result(t testing.TB, r response) map[string]any {
	t.Helper()
	res, ok := r.json()["result"].(map[string]any)
	if !ok {
		t.Fatalf("no result object in %s", r.body)
	}
	return res
}

func TestCreateUserMosaicShape(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Shop", false)
	// The body the official sample sends.
	r := c.call(http.MethodPost, "/cis/v1/users", `{"email":"a@example.com"}`).wantStatus(http.StatusCreated)
	u := result(t, r)
	if !nonEmptyString(u["user_id"]) || u["status"] != "Pending" || u["app_name"] != "Shop" {
		t.Fatalf("created user %s; want an ID, Pending, the app's name", r.body)
	}
	email := u["email"].(map[string]any)
	if email["value"] != "a@example.com" || email["email_verified"] != false {
		t.Fatalf("email %v; want the value, unverified", email)
	}
	want := float64(h.clock.Now().UnixMilli())
	if u["created_at"] != want || u["updated_at"] != want {
		t.Fatalf("created_at %v updated_at %v; want epoch milliseconds %v", u["created_at"], u["updated_at"], want)
	}

	full := map[string]any{
		"email": "Grace@Example.COM", "phone_number": "+1 (415) 555-0100", "username": "grace",
		"secondary_emails": []string{"g2@example.com"}, "secondary_phone_numbers": []string{"+447700900123"},
		"birthday": "1906-12-09", "name": map[string]string{"first_name": "Grace", "last_name": "Hopper"},
		"address": map[string]string{"city": "Arlington", "type": "Home"}, "external_account_id": "acct-1",
		"custom_app_data": map[string]any{"tier": 2}, "picture": "https://example.com/g.png", "language": "en-US",
		"custom_data": map[string]any{"rank": "RADM"}, "external_user_id": "ext-grace", "unknown_field": "ignored",
	}
	u = result(t, c.call(http.MethodPost, "/cis/v1/users", full).wantStatus(http.StatusCreated))
	checks := map[string]any{
		"username": "grace", "birthday": "1906-12-09", "external_account_id": "acct-1", "picture": "https://example.com/g.png",
		"language": "en-US", "external_user_id": "ext-grace",
	}
	for k, v := range checks {
		if u[k] != v {
			t.Errorf("%s = %v; want %v", k, u[k], v)
		}
	}
	if u["phone_number"].(map[string]any)["value"] != "+14155550100" {
		t.Errorf("phone %v; want E.164 +14155550100", u["phone_number"])
	}
	if u["email"].(map[string]any)["value"] != "Grace@Example.COM" {
		t.Errorf("email %v; want the address as written", u["email"])
	}
	if u["name"].(map[string]any)["last_name"] != "Hopper" || u["custom_data"].(map[string]any)["rank"] != "RADM" ||
		u["custom_app_data"].(map[string]any)["tier"] != float64(2) {
		t.Errorf("documents not kept: %v", u)
	}
	// Look-ups find the user through every identifier, in any spelling.
	id := u["user_id"].(string)
	for _, path := range []string{
		"/cis/v1/users/" + id,
		"/cis/v1/users/email/" + url.PathEscape("grace@example.com"),
		"/cis/v1/users/phone-number/" + url.PathEscape("+14155550100"),
		"/cis/v1/users/username/GRACE",
		"/cis/v1/users/external-user-id/ext-grace",
	} {
		got := result(t, c.call(http.MethodGet, path, nil).wantStatus(http.StatusOK))
		if got["user_id"] != id {
			t.Errorf("GET %s = %v; want %s", path, got["user_id"], id)
		}
	}
}

func TestCreateUserRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Shop", false)
	cases := map[string]string{
		"no email or phone":   `{"username":"x"}`,
		"invalid email":       `{"email":"not-an-email"}`,
		"display name email":  `{"email":"Ann <ann@example.com>"}`,
		"CRLF in email":       `{"email":"a@b.com\r\nBcc: x@evil.tld"}`,
		"bad phone":           `{"phone_number":"0415 555 0100"}`,
		"letters in phone":    `{"phone_number":"+1415CALLNOW"}`,
		"phone as number":     `{"phone_number":14155550100}`,
		"email as array":      `{"email":["a@example.com"]}`,
		"malformed JSON":      `{"email":`,
		"not an object":       `["a@example.com"]`,
		"empty body":          ``,
		"trailing data":       `{"email":"a@example.com"} {}`,
		"bad address type":    `{"email":"a@example.com","address":{"type":"Castle"}}`,
		"custom_data not obj": `{"email":"a@example.com","custom_data":[1,2]}`,
		"status on create":    `{"email":"a@example.com","status":"Active"}`,
		"password":            `{"email":"a@example.com","credentials":{"password":"hunter2"}}`,
		"bad birthday":        `{"email":"a@example.com","birthday":"yesterday"}`,
		"bad secondary":       `{"email":"a@example.com","secondary_emails":["nope"]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			r := c.call(http.MethodPost, "/cis/v1/users", body).wantStatus(http.StatusBadRequest)
			m := r.json()
			if msgs, ok := m["message"].([]any); !ok || len(msgs) == 0 || m["error_code"] != float64(400) {
				t.Fatalf("body %s; want Mosaic's BadRequestHttpError", r.body)
			}
		})
	}
	list := c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK).json()
	if list["total_count"] != float64(0) {
		t.Fatalf("refused creates left %v users behind", list["total_count"])
	}
	big := `{"email":"a@example.com","custom_data":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
	c.call(http.MethodPost, "/cis/v1/users", big).wantStatus(http.StatusRequestEntityTooLarge)
}

func TestCreateUserConflictsAndTenantUsers(t *testing.T) {
	h := newHarness(t)
	shop := h.newClient("Shop", false)
	blog := h.newClient("Blog", false)
	first := result(t, shop.call(http.MethodPost, "/cis/v1/users", map[string]any{
		"email": "ada@example.com", "name": map[string]string{"first_name": "Ada"}}).wantStatus(http.StatusCreated))

	// The same app, any spelling of the identifier: 409.
	r := shop.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "ADA@example.com"}).wantStatus(http.StatusConflict)
	if m := r.json(); m["error_code"] != float64(409) || m["ts_error_code"] == nil {
		t.Fatalf("conflict body %s; want IdentifierIsTakenHttpError", r.body)
	}

	// Another app: the tenant user joins it unchanged.
	joined := result(t, blog.call(http.MethodPost, "/cis/v1/users", map[string]any{
		"email": "ada@example.com", "name": map[string]string{"first_name": "Changed"}}).wantStatus(http.StatusCreated))
	if joined["user_id"] != first["user_id"] || joined["name"].(map[string]any)["first_name"] != "Ada" || joined["app_name"] != "Blog" {
		t.Fatalf("joined user %v; want the same user, unchanged, seen by Blog", joined)
	}
	blog.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "ada@example.com"}).wantStatus(http.StatusConflict)

	// Identifiers of two different users cannot be combined.
	result(t, shop.call(http.MethodPost, "/cis/v1/users", map[string]any{"phone_number": "+14155550111"}).wantStatus(http.StatusCreated))
	blog.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "ada@example.com", "phone_number": "+14155550111"}).
		wantStatus(http.StatusConflict)
}

func TestAppsSeeOnlyTheirUsers(t *testing.T) {
	h := newHarness(t)
	shop := h.newClient("Shop", false)
	blog := h.newClient("Blog", false)
	u := result(t, shop.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "solo@example.com", "username": "solo"}).wantStatus(http.StatusCreated))
	id := u["user_id"].(string)
	for _, path := range []string{"/cis/v1/users/" + id, "/cis/v1/users/email/solo@example.com", "/cis/v1/users/username/solo"} {
		r := blog.call(http.MethodGet, path, nil).wantStatus(http.StatusNotFound)
		if r.json()["error_code"] != float64(404) {
			t.Fatalf("GET %s from another app: %s", path, r.body)
		}
	}
	blog.call(http.MethodPut, "/cis/v1/users/"+id, map[string]any{"language": "fr"}).wantStatus(http.StatusNotFound)
	blog.call(http.MethodDelete, "/cis/v1/users/"+id+"/apps", nil).wantStatus(http.StatusNotFound)
	if n := blog.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK).json()["total_count"]; n != float64(0) {
		t.Fatalf("Blog lists %v users; want none", n)
	}
	shop.call(http.MethodGet, "/cis/v1/users/"+id, nil).wantStatus(http.StatusOK)
}

func TestUpdateUser(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Shop", false)
	other := result(t, c.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "taken@example.com"}).wantStatus(http.StatusCreated))
	_ = other
	u := result(t, c.call(http.MethodPost, "/cis/v1/users", map[string]any{
		"email": "u@example.com", "custom_data": map[string]any{"a": 1, "b": 2},
		"name": map[string]string{"first_name": "U", "last_name": "Ser"}}).wantStatus(http.StatusCreated))
	id := u["user_id"].(string)
	path := "/cis/v1/users/" + id

	h.clock.Advance(time.Minute)
	got := result(t, c.call(http.MethodPut, path, map[string]any{
		"status": "Disabled", "custom_data": map[string]any{"b": 3, "c": 4},
		"name": map[string]string{"first_name": "New"}, "phone_number": "+14155550123",
	}).wantStatus(http.StatusOK))
	if got["status"] != "Disabled" || got["status_changed_at"] != h.clock.Now().UTC().Format(time.RFC3339Nano) {
		t.Errorf("status %v changed at %v; want Disabled, timestamped", got["status"], got["status_changed_at"])
	}
	cd := got["custom_data"].(map[string]any)
	if cd["a"] != float64(1) || cd["b"] != float64(3) || cd["c"] != float64(4) {
		t.Errorf("custom_data %v; want a shallow merge", cd)
	}
	if name := got["name"].(map[string]any); name["last_name"] != nil || name["first_name"] != "New" {
		t.Errorf("name %v; want replaced, not merged", name)
	}
	if got["updated_at"] != float64(h.clock.Now().UnixMilli()) || got["created_at"] == got["updated_at"] {
		t.Errorf("updated_at %v; want the update time", got["updated_at"])
	}
	if got["email"].(map[string]any)["value"] != "u@example.com" {
		t.Errorf("unsent email changed: %v", got["email"])
	}

	c.call(http.MethodPut, path, map[string]any{"email": "TAKEN@example.com"}).wantStatus(http.StatusConflict)
	c.call(http.MethodPut, path, map[string]any{"status": "Deleted"}).wantStatus(http.StatusBadRequest)
	c.call(http.MethodPut, path, map[string]any{"email": "bad"}).wantStatus(http.StatusBadRequest)
	c.call(http.MethodPut, path, map[string]any{"email": "", "phone_number": ""}).wantStatus(http.StatusBadRequest)
	c.call(http.MethodPut, "/cis/v1/users/nobody", map[string]any{"language": "fr"}).wantStatus(http.StatusNotFound)

	after := result(t, c.call(http.MethodGet, path, nil).wantStatus(http.StatusOK))
	if after["email"].(map[string]any)["value"] != "u@example.com" || after["status"] != "Disabled" {
		t.Fatalf("refused updates changed the user: %v", after)
	}
	// Changing the email clears its verification and frees the old one.
	c.call(http.MethodPut, path, map[string]any{"email": "new@example.com"}).wantStatus(http.StatusOK)
	c.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "u@example.com"}).wantStatus(http.StatusCreated)
}

func TestListUsers(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Shop", false)
	for i := range 5 {
		h.clock.Advance(time.Second)
		c.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": fmt.Sprintf("user%d@example.com", i)}).wantStatus(http.StatusCreated)
	}
	c.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "zed@example.com", "phone_number": "+12125550100"}).wantStatus(http.StatusCreated)

	page := c.call(http.MethodGet, "/cis/v1/users?page_offset=1&page_limit=2", nil).wantStatus(http.StatusOK).json()
	info := page["page_info"].(map[string]any)
	if page["total_count"] != float64(6) || len(page["result"].([]any)) != 2 || info["has_next_page"] != true || info["has_previous_page"] != true {
		t.Fatalf("page %v; want 2 of 6 with both neighbours", page)
	}
	first := page["result"].([]any)[0].(map[string]any)["email"].(map[string]any)["value"]
	if first != "user1@example.com" {
		t.Fatalf("second user by creation = %v; want user1@example.com", first)
	}
	desc := c.call(http.MethodGet, "/cis/v1/users?sort_field=email&sort_order=desc&page_limit=1", nil).wantStatus(http.StatusOK).json()
	if e := desc["result"].([]any)[0].(map[string]any)["email"].(map[string]any)["value"]; e != "zed@example.com" {
		t.Fatalf("first by email descending = %v; want zed@example.com", e)
	}
	for prefix, want := range map[string]float64{"USER": 5, "%2B1212": 1, "nobody": 0} {
		got := c.call(http.MethodGet, "/cis/v1/users?search_prefix="+prefix, nil).wantStatus(http.StatusOK).json()
		if got["total_count"] != want {
			t.Errorf("search_prefix=%s: %v users; want %v", prefix, got["total_count"], want)
		}
	}
	for _, q := range []string{"page_limit=5001", "page_limit=0", "page_limit=x", "page_offset=-1", "sort_field=name", "sort_order=up", "search=email%20eq%20%22a%22"} {
		c.call(http.MethodGet, "/cis/v1/users?"+q, nil).wantStatus(http.StatusBadRequest)
	}
}

func TestRemoveUserFromApp(t *testing.T) {
	h := newHarness(t)
	shop := h.newClient("Shop", false)
	blog := h.newClient("Blog", false)
	u := result(t, shop.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "r@example.com"}).wantStatus(http.StatusCreated))
	blog.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "r@example.com"}).wantStatus(http.StatusCreated)
	id := u["user_id"].(string)

	r := shop.call(http.MethodDelete, "/cis/v1/users/"+id+"/apps", nil)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("remove from app: %d %s; want 204 with no body", r.status, r.body)
	}
	shop.call(http.MethodGet, "/cis/v1/users/"+id, nil).wantStatus(http.StatusNotFound)
	blog.call(http.MethodGet, "/cis/v1/users/"+id, nil).wantStatus(http.StatusOK)
	shop.call(http.MethodDelete, "/cis/v1/users/"+id+"/apps", nil).wantStatus(http.StatusNotFound)
}

// TestCountIdentifierAndDeprecatedPhoneLookUps checks Mosaic's
// GET /users/count, /users/identifier and the deprecated /users/phone/:
// each sees only the calling app's users, and neither "count" nor
// "identifier" is taken for a user ID.
func TestCountIdentifierAndDeprecatedPhoneLookUps(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Count", false)
	other := h.newClient("Other", false)
	count := func(cl *client) any {
		t.Helper()
		return result(t, cl.call(http.MethodGet, "/cis/v1/users/count", nil).wantStatus(http.StatusOK))["user_count"]
	}
	if got := count(c); got != float64(0) {
		t.Fatalf("user_count of an empty app: %v; want 0", got)
	}
	id := c.mustUser(map[string]any{"email": "Ada@Example.com", "phone_number": "+14155550111", "username": "ada",
		"external_user_id": "ext-ada"})
	c.mustUser(map[string]any{"email": "bob@example.com"})
	other.mustUser(map[string]any{"email": "carol@example.com"})
	if got := count(c); got != float64(2) {
		t.Fatalf("user_count: %v; want the app's 2 users", got)
	}
	if got := count(other); got != float64(1) {
		t.Fatalf("the other app's user_count: %v; want 1", got)
	}
	r := c.call(http.MethodGet, "/cis/v1/users/count?search="+url.QueryEscape(`email eq "a"`), nil).wantStatus(http.StatusBadRequest)
	if _, ok := r.json()["message"].([]any); !ok {
		t.Fatalf("a refused search: %s; want the Users API's 400 shape", r.body)
	}

	byIdentifier := func(cl *client, name, value string) response {
		t.Helper()
		return cl.call(http.MethodGet, "/cis/v1/users/identifier?identifier_name="+url.QueryEscape(name)+
			"&identifier_value="+url.QueryEscape(value), nil)
	}
	for name, value := range map[string]string{"email": "ada@example.com", "phoneNumber": "+1 415 555 0111",
		"externalUserId": "ext-ada", "username": "ADA"} {
		if got := result(t, byIdentifier(c, name, value).wantStatus(http.StatusOK))["user_id"]; got != id {
			t.Errorf("identifier %s=%s: user %v; want %s", name, value, got, id)
		}
		byIdentifier(other, name, value).wantStatus(http.StatusNotFound)
	}
	byIdentifier(c, "email", "nobody@example.com").wantStatus(http.StatusNotFound)
	for _, bad := range [][2]string{{"phone_number", "+14155550111"}, {"idpIdentifier", "x"}, {"", "x"}, {"email", ""}} {
		r := byIdentifier(c, bad[0], bad[1]).wantStatus(http.StatusBadRequest)
		if !strings.Contains(string(r.body), "identifier_") {
			t.Errorf("identifier %q=%q: %s; want a message naming the parameter", bad[0], bad[1], r.body)
		}
	}

	if got := result(t, c.call(http.MethodGet, "/cis/v1/users/phone/"+url.PathEscape("+14155550111"), nil).
		wantStatus(http.StatusOK))["user_id"]; got != id {
		t.Errorf("deprecated phone look-up: %v; want %s", got, id)
	}
	other.call(http.MethodGet, "/cis/v1/users/phone/"+url.PathEscape("+14155550111"), nil).wantStatus(http.StatusNotFound)
}
