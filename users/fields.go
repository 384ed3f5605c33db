package users

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
)

// Fields is what a caller sends to create or update a user, in Mosaic's
// vocabulary. A nil field was not sent and leaves the stored value alone; an
// empty string clears an optional value.
type Fields struct {
	Email                 *string
	PhoneNumber           *string
	Username              *string
	ExternalUserID        *string
	ExternalAccountID     *string
	SecondaryEmails       *[]string
	SecondaryPhoneNumbers *[]string
	Birthday              *string
	Picture               *string
	Language              *string
	Address               json.RawMessage
	Name                  json.RawMessage
	CustomData            json.RawMessage
	CustomAppData         json.RawMessage
	// Status is accepted on update only.
	Status *latchkey.UserStatus
}

// maxTextLength bounds the free-text profile fields.
const maxTextLength = 256

// name is the shape of a user's name.
type name struct {
	Title      string `json:"title,omitempty"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	MiddleName string `json:"middle_name,omitempty"`
}

// address is the shape of a user's address.
type address struct {
	Country       string `json:"country,omitempty"`
	State         string `json:"state,omitempty"`
	City          string `json:"city,omitempty"`
	StreetAddress string `json:"street_address,omitempty"`
	PostalCode    string `json:"postal_code,omitempty"`
	Type          string `json:"type,omitempty"`
}

// applyProfile validates the profile fields of f and writes the sent ones
// into p; custom_data is merged shallowly into what p holds.
func applyProfile(p *latchkey.Profile, f Fields) error {
	if f.SecondaryEmails != nil {
		list := make([]string, 0, len(*f.SecondaryEmails))
		for _, e := range *f.SecondaryEmails {
			display, _, err := CanonicalEmail(e)
			if err != nil {
				return latchkey.Errorf(latchkey.CodeInvalid, "secondary_emails must hold valid email addresses")
			}
			list = append(list, display)
		}
		p.SecondaryEmails = list
	}
	if f.SecondaryPhoneNumbers != nil {
		list := make([]string, 0, len(*f.SecondaryPhoneNumbers))
		for _, raw := range *f.SecondaryPhoneNumbers {
			phone, err := NormalizePhone(raw)
			if err != nil {
				return latchkey.Errorf(latchkey.CodeInvalid, "secondary_phone_numbers must hold E.164 phone numbers")
			}
			list = append(list, phone)
		}
		p.SecondaryPhoneNumbers = list
	}
	if f.Birthday != nil {
		if err := validateBirthday(*f.Birthday); err != nil {
			return err
		}
		p.Birthday = *f.Birthday
	}
	if f.Picture != nil {
		if err := validatePicture(*f.Picture); err != nil {
			return err
		}
		p.Picture = *f.Picture
	}
	if f.Language != nil {
		if err := validateText("language", *f.Language, 35); err != nil {
			return err
		}
		p.Language = *f.Language
	}
	if f.Name != nil {
		doc, err := reencode("name", f.Name, &name{}, validateName)
		if err != nil {
			return err
		}
		p.Name = doc
	}
	if f.Address != nil {
		doc, err := reencode("address", f.Address, &address{}, validateAddress)
		if err != nil {
			return err
		}
		p.Address = doc
	}
	if f.CustomData != nil {
		merged, err := mergeObjects("custom_data", p.CustomData, f.CustomData)
		if err != nil {
			return err
		}
		p.CustomData = merged
	}
	return nil
}

// reencode decodes a document into its typed shape, validates it, and
// returns it encoded again: unknown keys are dropped, and JSON null clears.
func reencode[T any](field string, raw json.RawMessage, into *T, validate func(*T) error) (json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return nil, latchkey.Errorf(latchkey.CodeInvalid, "%s must be an object of strings", field)
	}
	if err := validate(into); err != nil {
		return nil, err
	}
	out, err := json.Marshal(into)
	if err != nil {
		return nil, err
	}
	if string(out) == "{}" {
		return nil, nil
	}
	return out, nil
}

func validateName(n *name) error {
	for field, v := range map[string]string{"name.title": n.Title, "name.first_name": n.FirstName,
		"name.last_name": n.LastName, "name.middle_name": n.MiddleName} {
		if err := validateText(field, v, maxTextLength); err != nil {
			return err
		}
	}
	return nil
}

func validateAddress(a *address) error {
	for field, v := range map[string]string{"address.country": a.Country, "address.state": a.State,
		"address.city": a.City, "address.street_address": a.StreetAddress, "address.postal_code": a.PostalCode} {
		if err := validateText(field, v, maxTextLength); err != nil {
			return err
		}
	}
	switch a.Type {
	case "", "Home", "Work", "Other":
		return nil
	default:
		return latchkey.Errorf(latchkey.CodeInvalid, "address.type must be one of Home, Work, Other")
	}
}

func validateText(field, v string, maxLen int) error {
	if utf8.RuneCountInString(v) > maxLen || hasControl(v) || !utf8.ValidString(v) {
		return latchkey.Errorf(latchkey.CodeInvalid, "%s must be at most %d printable characters", field, maxLen)
	}
	return nil
}

// validateBirthday accepts an RFC 3339 date-time or a plain date.
func validateBirthday(v string) error {
	if v == "" {
		return nil
	}
	if _, err := time.Parse(time.RFC3339, v); err == nil {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, v); err == nil {
		return nil
	}
	return latchkey.Errorf(latchkey.CodeInvalid, "birthday must be a date (2006-01-02) or an RFC 3339 date-time")
}

func validatePicture(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(v) > 2048 {
		return latchkey.Errorf(latchkey.CodeInvalid, "picture must be an http or https URL")
	}
	return nil
}

// mergeObjects returns base with every top-level key of patch set (a shallow
// merge, as Mosaic merges custom_data). JSON null as the patch clears it.
func mergeObjects(field string, base, patch json.RawMessage) (json.RawMessage, error) {
	if isNull(patch) {
		return nil, nil
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return nil, latchkey.Errorf(latchkey.CodeInvalid, "%s must be a JSON object", field)
	}
	merged := map[string]json.RawMessage{}
	if len(base) > 0 {
		if err := json.Unmarshal(base, &merged); err != nil {
			return nil, err
		}
	}
	for k, v := range p {
		merged[k] = v
	}
	return json.Marshal(merged)
}

// objectOrNil checks that raw is a JSON object (or null, which clears).
func objectOrNil(field string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, latchkey.Errorf(latchkey.CodeInvalid, "%s must be a JSON object", field)
	}
	return raw, nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// trimmed returns the trimmed value of an optional string field.
func trimmed(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}
