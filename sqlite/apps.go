package sqlite

import (
	"context"
	"strings"

	"github.com/latchkeyhq/latchkey"
)

// appColumnNames lists the apps columns: the two that never change (id and
// client_id) first, then the mutable ones.
var appColumnNames = []string{"id", "client_id", "name", "secret_hash", "redirect_uris", "resources", "management",
	"otp_length", "otp_expiry_ms", "max_failures", "lockout_ms", "magic_link_expiry_ms",
	"access_token_ttl_ms", "id_token_ttl_ms", "refresh_token_ttl_ms", "session_ttl_ms",
	"hide_unknown_users", "public_signup", "secret_rotated_at", "created_at", "updated_at",
	"sender_name", "logo_url", "primary_color",
	"resend_cooldown_ms", "sends_per_hour", "sends_per_day", "sms_countries", "sms_daily_budget",
	"sms_prefix_per_hour", "max_failures_per_minute", "ip_sends_per_hour", "ip_failures_per_hour", "test_identifiers",
	"secret_generation"}

var (
	appColumns = strings.Join(appColumnNames, ", ")
	insertApp  = "INSERT INTO apps (" + appColumns + ") VALUES (" + placeholders(len(appColumnNames)) + ")"
	updateApp  = "UPDATE apps SET " + strings.Join(appColumnNames[2:], " = ?, ") + " = ? WHERE id = ?"
)

// appRow is an app flattened to its columns, in appColumns order.
func appRow(a latchkey.App) ([]any, error) {
	redirects, err := encodeJSON(nonNil(a.RedirectURIs))
	if err != nil {
		return nil, err
	}
	resources, err := encodeJSON(nonNil(a.Resources))
	if err != nil {
		return nil, err
	}
	countries, err := encodeJSON(nonNil(a.Limits.SMSCountries))
	if err != nil {
		return nil, err
	}
	testIDs, err := encodeJSON(nonNil(a.Limits.TestIdentifiers))
	if err != nil {
		return nil, err
	}
	p, l := a.Policy, a.Limits
	return []any{a.ID, a.ClientID, a.Name, a.SecretHash, redirects, resources, boolInt(a.Management),
		p.OTPLength, durMS(p.OTPExpiry), p.MaxFailures, durMS(p.LockoutDuration), durMS(p.MagicLinkExpiry),
		durMS(p.AccessTokenTTL), durMS(p.IDTokenTTL), durMS(p.RefreshTokenTTL), durMS(p.SessionTTL),
		boolInt(p.HideUnknownUsers), boolInt(p.PublicSignup), ms(a.SecretRotatedAt), ms(a.CreatedAt), ms(a.UpdatedAt),
		a.Branding.SenderName, a.Branding.LogoURL, a.Branding.PrimaryColor,
		durMS(l.ResendCooldown), l.SendsPerHour, l.SendsPerDay, countries, l.SMSDailyBudget,
		l.SMSPrefixPerHour, l.MaxFailuresPerMinute, l.IPSendsPerHour, l.IPFailuresPerHour, testIDs,
		a.SecretGeneration}, nil
}

// nonNil stores a nil list as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func scanApp(row scanner) (latchkey.App, error) {
	var (
		a                                        latchkey.App
		redirects, resources                     string
		otpExpiry, lockout, linkExpiry           int64
		accessTTL, idTTL, refreshTTL, sessionTTL int64
		rotated, created, updated                int64
		management, hideUnknown, publicSignup    bool
		cooldown                                 int64
		countries, testIDs                       string
	)
	p, l := &a.Policy, &a.Limits
	err := row.Scan(&a.ID, &a.ClientID, &a.Name, &a.SecretHash, &redirects, &resources, &management,
		&p.OTPLength, &otpExpiry, &p.MaxFailures, &lockout, &linkExpiry,
		&accessTTL, &idTTL, &refreshTTL, &sessionTTL,
		&hideUnknown, &publicSignup, &rotated, &created, &updated,
		&a.Branding.SenderName, &a.Branding.LogoURL, &a.Branding.PrimaryColor,
		&cooldown, &l.SendsPerHour, &l.SendsPerDay, &countries, &l.SMSDailyBudget,
		&l.SMSPrefixPerHour, &l.MaxFailuresPerMinute, &l.IPSendsPerHour, &l.IPFailuresPerHour, &testIDs,
		&a.SecretGeneration)
	if err != nil {
		return latchkey.App{}, translate(err)
	}
	for _, list := range []struct {
		raw  string
		into any
	}{{redirects, &a.RedirectURIs}, {resources, &a.Resources}, {countries, &l.SMSCountries}, {testIDs, &l.TestIdentifiers}} {
		if err := decodeJSON(list.raw, list.into); err != nil {
			return latchkey.App{}, err
		}
	}
	l.ResendCooldown = msDur(cooldown)
	a.Management, p.HideUnknownUsers, p.PublicSignup = management, hideUnknown, publicSignup
	p.OTPExpiry, p.LockoutDuration, p.MagicLinkExpiry = msDur(otpExpiry), msDur(lockout), msDur(linkExpiry)
	p.AccessTokenTTL, p.IDTokenTTL = msDur(accessTTL), msDur(idTTL)
	p.RefreshTokenTTL, p.SessionTTL = msDur(refreshTTL), msDur(sessionTTL)
	a.SecretRotatedAt, a.CreatedAt, a.UpdatedAt = fromMS(rotated), fromMS(created), fromMS(updated)
	return a, nil
}

// CreateApp adds app.
func (s *Store) CreateApp(ctx context.Context, app latchkey.App) error {
	row, err := appRow(app)
	if err != nil {
		return err
	}
	_, err = s.write.ExecContext(ctx, insertApp, row...)
	return translate(err)
}

// GetApp returns the app with this ID.
func (s *Store) GetApp(ctx context.Context, id string) (latchkey.App, error) {
	return scanApp(s.write.QueryRowContext(ctx, "SELECT "+appColumns+" FROM apps WHERE id = ?", id))
}

// GetAppByClientID returns the app owning this client ID.
func (s *Store) GetAppByClientID(ctx context.Context, clientID string) (latchkey.App, error) {
	return scanApp(s.write.QueryRowContext(ctx, "SELECT "+appColumns+" FROM apps WHERE client_id = ?", clientID))
}

// ListApps returns every app, oldest first.
func (s *Store) ListApps(ctx context.Context) ([]latchkey.App, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+appColumns+" FROM apps ORDER BY created_at, id")
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var apps []latchkey.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, err
		}
		apps = append(apps, a)
	}
	return apps, translate(rows.Err())
}

// UpdateApp applies update to the app in one transaction.
func (s *Store) UpdateApp(ctx context.Context, id string, update func(*latchkey.App) error) (latchkey.App, error) {
	var out latchkey.App
	err := s.inTx(ctx, func(tx *tx) error {
		a, err := scanApp(tx.QueryRowContext(ctx, "SELECT "+appColumns+" FROM apps WHERE id = ?", id))
		if err != nil {
			return err
		}
		clientID := a.ClientID
		if err := update(&a); err != nil {
			return err
		}
		a.ID, a.ClientID = id, clientID
		row, err := appRow(a)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, updateApp, append(row[2:], id)...); err != nil {
			return translate(err)
		}
		out, err = scanApp(tx.QueryRowContext(ctx, "SELECT "+appColumns+" FROM apps WHERE id = ?", id))
		return err
	})
	return out, err
}

// DeleteApp removes the app and its memberships.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return affectedOne(s.write.ExecContext(ctx, "DELETE FROM apps WHERE id = ?", id))
}
