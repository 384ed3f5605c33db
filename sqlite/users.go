package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/latchkeyhq/latchkey"
)

// userColumnNames lists the users columns, id first.
var userColumnNames = []string{"id", "email", "email_key", "email_verified_at", "phone", "phone_verified_at",
	"username", "username_key", "external_user_id", "status", "status_changed_at", "last_auth_at",
	"profile", "identities", "created_at", "updated_at"}

var (
	userColumns = strings.Join(userColumnNames, ", ")
	insertUser  = "INSERT INTO users (" + userColumns + ") VALUES (" + placeholders(len(userColumnNames)) + ")"
	selectUser  = "SELECT " + userColumns + " FROM users "
)

const memberColumns = "app_id, user_id, external_account_id, custom_app_data, added_at"

func userRow(u latchkey.User) ([]any, error) {
	profile, err := encodeJSON(u.Profile)
	if err != nil {
		return nil, err
	}
	identities := u.Identities
	if identities == nil {
		identities = []latchkey.Identity{}
	}
	ids, err := encodeJSON(identities)
	if err != nil {
		return nil, err
	}
	return []any{u.ID, u.Email, nullIfEmpty(u.EmailKey), ms(u.EmailVerifiedAt), nullIfEmpty(u.Phone), ms(u.PhoneVerifiedAt),
		u.Username, nullIfEmpty(u.UsernameKey), nullIfEmpty(u.ExternalUserID), string(u.Status), ms(u.StatusChangedAt),
		ms(u.LastAuthAt), profile, ids, ms(u.CreatedAt), ms(u.UpdatedAt)}, nil
}

// userScan holds the scan targets of one users row.
type userScan struct {
	u                                      latchkey.User
	emailKey, phone, usernameKey, extID    sql.NullString
	status, profile, identities            string
	emailVerified, phoneVerified, statusAt int64
	lastAuth, created, updated             int64
}

func (s *userScan) dest() []any {
	return []any{&s.u.ID, &s.u.Email, &s.emailKey, &s.emailVerified, &s.phone, &s.phoneVerified,
		&s.u.Username, &s.usernameKey, &s.extID, &s.status, &s.statusAt, &s.lastAuth,
		&s.profile, &s.identities, &s.created, &s.updated}
}

func (s *userScan) user() (latchkey.User, error) {
	u := s.u
	u.EmailKey, u.Phone, u.UsernameKey, u.ExternalUserID = s.emailKey.String, s.phone.String, s.usernameKey.String, s.extID.String
	u.Status = latchkey.UserStatus(s.status)
	u.EmailVerifiedAt, u.PhoneVerifiedAt = fromMS(s.emailVerified), fromMS(s.phoneVerified)
	u.StatusChangedAt, u.LastAuthAt = fromMS(s.statusAt), fromMS(s.lastAuth)
	u.CreatedAt, u.UpdatedAt = fromMS(s.created), fromMS(s.updated)
	if err := decodeJSON(s.profile, &u.Profile); err != nil {
		return latchkey.User{}, err
	}
	if err := decodeJSON(s.identities, &u.Identities); err != nil {
		return latchkey.User{}, err
	}
	return u, nil
}

func scanUser(row scanner) (latchkey.User, error) {
	var s userScan
	if err := row.Scan(s.dest()...); err != nil {
		return latchkey.User{}, translate(err)
	}
	return s.user()
}

type memberScan struct {
	m             latchkey.AppUser
	customAppData string
	added         int64
}

func (s *memberScan) dest() []any {
	return []any{&s.m.AppID, &s.m.UserID, &s.m.ExternalAccountID, &s.customAppData, &s.added}
}

func (s *memberScan) member() latchkey.AppUser {
	m := s.m
	m.CustomAppData = emptyRaw(s.customAppData)
	m.AddedAt = fromMS(s.added)
	return m
}

// CreateUser adds the user and its first app membership together.
func (s *Store) CreateUser(ctx context.Context, user latchkey.User, member latchkey.AppUser) error {
	row, err := userRow(user)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *tx) error {
		if _, err := tx.ExecContext(ctx, insertUser, row...); err != nil {
			return translate(err)
		}
		member.UserID = user.ID
		return insertMember(ctx, tx, member)
	})
}

func insertMember(ctx context.Context, tx *tx, m latchkey.AppUser) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO app_users ("+memberColumns+") VALUES (?, ?, ?, ?, ?)",
		m.AppID, m.UserID, m.ExternalAccountID, rawOrEmpty(m.CustomAppData), ms(m.AddedAt))
	return translate(err)
}

// GetUser returns the user with this ID.
func (s *Store) GetUser(ctx context.Context, id string) (latchkey.User, error) {
	return scanUser(s.write.QueryRowContext(ctx, selectUser+"WHERE id = ?", id))
}

// GetUserByEmail returns the user with this canonical primary email.
func (s *Store) GetUserByEmail(ctx context.Context, emailKey string) (latchkey.User, error) {
	return scanUser(s.write.QueryRowContext(ctx, selectUser+"WHERE email_key = ?", emailKey))
}

// GetUserByPhone returns the user with this primary phone number.
func (s *Store) GetUserByPhone(ctx context.Context, phone string) (latchkey.User, error) {
	return scanUser(s.write.QueryRowContext(ctx, selectUser+"WHERE phone = ?", phone))
}

// GetUserByUsername returns the user with this lower-case username.
func (s *Store) GetUserByUsername(ctx context.Context, usernameKey string) (latchkey.User, error) {
	return scanUser(s.write.QueryRowContext(ctx, selectUser+"WHERE username_key = ?", usernameKey))
}

// GetUserByExternalID returns the user with this external user ID.
func (s *Store) GetUserByExternalID(ctx context.Context, externalID string) (latchkey.User, error) {
	return scanUser(s.write.QueryRowContext(ctx, selectUser+"WHERE external_user_id = ?", externalID))
}

// memberQueries holds, for each user key, the query that finds a user by
// that key's unique column together with its membership in an app. They are
// built once: every API call looks a user up this way.
var memberQueries = func() map[latchkey.UserKey]string {
	cols := "u." + strings.Join(userColumnNames, ", u.") + ", m." + strings.ReplaceAll(memberColumns, ", ", ", m.")
	queries := map[latchkey.UserKey]string{}
	for key, col := range map[latchkey.UserKey]string{
		latchkey.ByID: "id", latchkey.ByEmail: "email_key", latchkey.ByPhone: "phone",
		latchkey.ByUsername: "username_key", latchkey.ByExternalID: "external_user_id",
	} {
		queries[key] = "SELECT " + cols + " FROM users u JOIN app_users m ON m.user_id = u.id AND m.app_id = ? WHERE u." + col + " = ?"
	}
	return queries
}()

// GetMember returns a user of the app and its membership with one query.
func (s *Store) GetMember(ctx context.Context, appID string, key latchkey.UserKey, value string) (latchkey.User, latchkey.AppUser, error) {
	query, ok := memberQueries[key]
	if !ok {
		return latchkey.User{}, latchkey.AppUser{}, fmt.Errorf("sqlite: unknown user key %q", key)
	}
	var (
		us userScan
		ms memberScan
	)
	err := s.write.QueryRowContext(ctx, query, appID, value).Scan(append(us.dest(), ms.dest()...)...)
	if err != nil {
		return latchkey.User{}, latchkey.AppUser{}, translate(err)
	}
	u, err := us.user()
	return u, ms.member(), err
}

// userSortColumns maps each sort to an expression that orders the same way
// on every backend (empty values first, never NULL).
var userSortColumns = map[latchkey.UserSort]string{
	latchkey.SortCreatedAt:   "u.created_at",
	latchkey.SortEmail:       "COALESCE(u.email_key, '')",
	latchkey.SortPhoneNumber: "COALESCE(u.phone, '')",
	latchkey.SortLastAuth:    "u.last_auth_at",
}

// ListUsers returns one page of an app's users and the total count.
func (s *Store) ListUsers(ctx context.Context, f latchkey.UserFilter) (latchkey.UserPage, error) {
	col, ok := userSortColumns[f.Sort]
	if !ok {
		col = userSortColumns[latchkey.SortCreatedAt]
	}
	dir := "ASC"
	if f.Descending {
		dir = "DESC"
	}
	where := "WHERE m.app_id = ?"
	args := []any{f.AppID}
	if f.Prefix != "" {
		where += " AND (substr(COALESCE(u.email_key, ''), 1, length(?)) = ? OR substr(COALESCE(u.phone, ''), 1, length(?)) = ?)"
		args = append(args, f.Prefix, f.Prefix, f.Prefix, f.Prefix)
	}
	from := " FROM app_users m JOIN users u ON u.id = m.user_id "
	var page latchkey.UserPage
	if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*)"+from+where, args...).Scan(&page.Total); err != nil {
		return page, translate(err)
	}
	cols := "u." + strings.Join(userColumnNames, ", u.") + ", m." + strings.ReplaceAll(memberColumns, ", ", ", m.")
	query := fmt.Sprintf("SELECT %s%s%s ORDER BY %s %s, u.id %s LIMIT ? OFFSET ?", cols, from, where, col, dir, dir)
	rows, err := s.read.QueryContext(ctx, query, append(args, f.Limit, f.Offset)...)
	if err != nil {
		return page, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var us userScan
		var ms memberScan
		if err := rows.Scan(append(us.dest(), ms.dest()...)...); err != nil {
			return page, translate(err)
		}
		u, err := us.user()
		if err != nil {
			return page, err
		}
		page.Users = append(page.Users, u)
		page.Members = append(page.Members, ms.member())
	}
	return page, translate(rows.Err())
}

// UpdateUser applies update to the user in one transaction.
func (s *Store) UpdateUser(ctx context.Context, id string, update func(*latchkey.User) error) (latchkey.User, error) {
	var out latchkey.User
	err := s.inTx(ctx, func(tx *tx) (err error) {
		out, err = updateUser(ctx, tx, id, update)
		return err
	})
	return out, err
}

// updateUser reads the user, applies update and writes what changed.
func updateUser(ctx context.Context, tx *tx, id string, update func(*latchkey.User) error) (latchkey.User, error) {
	u, err := scanUser(tx.QueryRowContext(ctx, selectUser+"WHERE id = ?", id))
	if err != nil {
		return latchkey.User{}, err
	}
	before := u
	if err := update(&u); err != nil {
		return latchkey.User{}, err
	}
	return writeUser(ctx, tx, id, before, u)
}

// writeUser stores the columns that differ between before and u, the user
// id as read and as changed. Writing only what changed spares SQLite the
// unique indexes of identifiers a login does not touch.
func writeUser(ctx context.Context, tx *tx, id string, before, u latchkey.User) (latchkey.User, error) {
	u.ID = id
	old, err := userRow(before)
	if err != nil {
		return latchkey.User{}, err
	}
	row, err := userRow(u)
	if err != nil {
		return latchkey.User{}, err
	}
	var sets []string
	var args []any
	for i := 1; i < len(row); i++ {
		if !sameValue(old[i], row[i]) {
			sets = append(sets, userColumnNames[i]+" = ?")
			args = append(args, row[i])
		}
	}
	if len(sets) == 0 {
		return u, nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE users SET "+strings.Join(sets, ", ")+" WHERE id = ?", append(args, id)...); err != nil {
		return latchkey.User{}, translate(err)
	}
	return u, nil
}

// UpdateUserInApp applies update to a member user and its membership in one
// transaction.
func (s *Store) UpdateUserInApp(ctx context.Context, appID, userID string, update func(*latchkey.User, *latchkey.AppUser) error) (latchkey.User, latchkey.AppUser, error) {
	var (
		outUser   latchkey.User
		outMember latchkey.AppUser
	)
	err := s.inTx(ctx, func(tx *tx) error {
		m, err := scanMember(tx.QueryRowContext(ctx,
			"SELECT "+memberColumns+" FROM app_users WHERE app_id = ? AND user_id = ?", appID, userID))
		if err != nil {
			return err
		}
		u, err := scanUser(tx.QueryRowContext(ctx, selectUser+"WHERE id = ?", userID))
		if err != nil {
			return err
		}
		before := u
		if err := update(&u, &m); err != nil {
			return err
		}
		if outUser, err = writeUser(ctx, tx, userID, before, u); err != nil {
			return err
		}
		m.AppID, m.UserID = appID, userID
		if _, err := tx.ExecContext(ctx,
			"UPDATE app_users SET external_account_id = ?, custom_app_data = ?, added_at = ? WHERE app_id = ? AND user_id = ?",
			m.ExternalAccountID, rawOrEmpty(m.CustomAppData), ms(m.AddedAt), appID, userID); err != nil {
			return translate(err)
		}
		outMember = m
		return nil
	})
	return outUser, outMember, err
}

// DeleteUser removes the user; memberships and everything else that refers
// to the user go with it through ON DELETE CASCADE.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return affectedOne(s.write.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id))
}

// GetAppUser returns the user's membership in the app.
func (s *Store) GetAppUser(ctx context.Context, appID, userID string) (latchkey.AppUser, error) {
	return scanMember(s.write.QueryRowContext(ctx,
		"SELECT "+memberColumns+" FROM app_users WHERE app_id = ? AND user_id = ?", appID, userID))
}

func scanMember(row scanner) (latchkey.AppUser, error) {
	var s memberScan
	if err := row.Scan(s.dest()...); err != nil {
		return latchkey.AppUser{}, translate(err)
	}
	return s.member(), nil
}

// AddAppUser makes the user a member of the app.
func (s *Store) AddAppUser(ctx context.Context, member latchkey.AppUser) error {
	return s.inTx(ctx, func(tx *tx) error { return insertMember(ctx, tx, member) })
}

// RemoveAppUser ends the user's membership in the app.
func (s *Store) RemoveAppUser(ctx context.Context, appID, userID string) error {
	return affectedOne(s.write.ExecContext(ctx, "DELETE FROM app_users WHERE app_id = ? AND user_id = ?", appID, userID))
}
