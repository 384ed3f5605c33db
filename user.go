package latchkey

import (
	"encoding/json"
	"time"
)

// UserStatus is a user's lifecycle state, with Mosaic's spelling.
type UserStatus string

// User statuses. A user created through the API is Pending until their first
// successful login makes them Active; a Disabled user can neither receive a
// code nor log in.
const (
	UserActive   UserStatus = "Active"
	UserDisabled UserStatus = "Disabled"
	UserPending  UserStatus = "Pending"
)

// Valid reports whether s is one of the three statuses.
func (s UserStatus) Valid() bool {
	return s == UserActive || s == UserDisabled || s == UserPending
}

// User is a person known to the tenant. Users are tenant-wide; each app sees
// only the users that belong to it (AppUser).
type User struct {
	ID string
	// Email is the primary email as the caller wrote it; EmailKey is its
	// canonical form, unique in the tenant, used for every look-up.
	Email           string
	EmailKey        string
	EmailVerifiedAt time.Time
	// Phone is the primary phone number in E.164, unique in the tenant.
	Phone           string
	PhoneVerifiedAt time.Time
	// Username is as written; UsernameKey is its lower-case form, unique.
	Username        string
	UsernameKey     string
	ExternalUserID  string // unique in the tenant when set
	Status          UserStatus
	StatusChangedAt time.Time
	LastAuthAt      time.Time
	Profile         Profile
	Identities      []Identity
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Profile holds the descriptive fields of a user, stored as one document:
// nothing in it is searched or must be unique.
type Profile struct {
	SecondaryEmails       []string        `json:"secondary_emails,omitempty"`
	SecondaryPhoneNumbers []string        `json:"secondary_phone_numbers,omitempty"`
	Birthday              string          `json:"birthday,omitempty"`
	Address               json.RawMessage `json:"address,omitempty"`
	Name                  json.RawMessage `json:"name,omitempty"`
	Picture               string          `json:"picture,omitempty"`
	Language              string          `json:"language,omitempty"`
	CustomData            json.RawMessage `json:"custom_data,omitempty"`
}

// Identity records one way a user has authenticated, as Mosaic's ApiUser
// "identities" lists them.
type Identity struct {
	ProviderName  string    `json:"provider_name"`
	ProviderType  string    `json:"provider_type"`
	AuthType      string    `json:"auth_type"`
	Identifier    string    `json:"identifier"`
	FirstAuthDate time.Time `json:"first_auth_date"`
	LastAuthDate  time.Time `json:"last_auth_date"`
}

// AppUser is a user's membership in one app, with the data that app keeps
// about them.
type AppUser struct {
	AppID             string
	UserID            string
	ExternalAccountID string
	CustomAppData     json.RawMessage
	AddedAt           time.Time
}

// UserSort names the orders a user listing supports.
type UserSort string

// User sort fields, with Mosaic's names.
const (
	SortCreatedAt   UserSort = "created_at"
	SortEmail       UserSort = "email"
	SortPhoneNumber UserSort = "phone_number"
	SortLastAuth    UserSort = "last_auth"
)

// UserFilter selects the users of one app for a listing.
type UserFilter struct {
	AppID string
	// Prefix, when set, keeps users whose canonical email or phone number
	// starts with it.
	Prefix     string
	Sort       UserSort
	Descending bool
	Offset     int
	Limit      int
}

// MaxUserPageLimit is the largest page a user listing returns (Mosaic's cap).
const MaxUserPageLimit = 5000

// UserPage is one page of a user listing.
type UserPage struct {
	Users []User
	// Members holds each listed user's membership in the filtered app, in
	// the same order as Users.
	Members []AppUser
	Total   int
}

// UserKey names a unique way to find a user: by ID or by one of the
// canonical identifiers.
type UserKey string

// User keys.
const (
	ByID         UserKey = "id"
	ByEmail      UserKey = "email"       // the canonical email key
	ByPhone      UserKey = "phone"       // the E.164 number
	ByUsername   UserKey = "username"    // the lower-case username
	ByExternalID UserKey = "external_id" // the external user ID
)
