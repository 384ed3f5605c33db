package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
)

// userColumnNames lists the users columns, id first.
var userColumnNames = []string{"id", "email", "email_key", "email_verified_at", "phone", "phone_verified_at",
	"username", "username_key", "external_user_id", "status", "status_changed_at", "last_auth_at",
	"profile", "identities", "created_at", "updated_at"}

var (
	userColumns   = strings.Join(userColumnNames, ", ")
	insertUser    = "INSERT INTO users (" + userColumns + ") VALUES (" + placeholders(1, len(userColumnNames)) + ")"
	updateUserSQL = "UPDATE users SET " + assignments(userColumnNames[1:]) +
		" WHERE id = $" + strconv.Itoa(len(userColumnNames))
	selectUser = "SELECT " + userColumns + " FROM users "
)

const memberColumns = "app_id, user_id, external_account_id, custom_app_data, added_at"

const selectMember = "SELECT " + memberColumns + " FROM app_users WHERE app_id = $1 AND user_id = $2"

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
	emailKey, phone, usernameKey, extID    *string
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
	u.EmailKey, u.Phone, u.UsernameKey, u.ExternalUserID = deref(s.emailKey), deref(s.phone), deref(s.usernameKey), deref(s.extID)
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

// memberScan holds the scan targets of one app_users row.
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

func scanMember(row scanner) (latchkey.AppUser, error) {
	var s memberScan
	if err := row.Scan(s.dest()...); err != nil {
		return latchkey.AppUser{}, translate(err)
	}
	return s.member(), nil
}

// CreateUser adds the user and its first app membership in one
// transaction, so a refused membership leaves no user behind.
func (s *Store) CreateUser(ctx context.Context, user latchkey.User, member latchkey.AppUser) error {
	row, err := userRow(user)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertUser, row...); err != nil {
			return translate(err)
		}
		member.UserID = user.ID
		return insertMember(ctx, tx, member)
	})
}

func insertMember(ctx context.Context, q querier, m latchkey.AppUser) error {
	_, err := q.Exec(ctx, "INSERT INTO app_users ("+memberColumns+") VALUES ($1, $2, $3, $4, $5)",
		m.AppID, m.UserID, m.ExternalAccountID, rawOrEmpty(m.CustomAppData), ms(m.AddedAt))
	return translate(err)
}

// GetUser returns the user with this ID.
func (s *Store) GetUser(ctx context.Context, id string) (latchkey.User, error) {
	return scanUser(s.pool.QueryRow(ctx, selectUser+"WHERE id = $1", id))
}

// GetUserByEmail returns the user with this canonical primary email.
func (s *Store) GetUserByEmail(ctx context.Context, emailKey string) (latchkey.User, error) {
	return scanUser(s.pool.QueryRow(ctx, selectUser+"WHERE email_key = $1", emailKey))
}

// GetUserByPhone returns the user with this primary phone number.
func (s *Store) GetUserByPhone(ctx context.Context, phone string) (latchkey.User, error) {
	return scanUser(s.pool.QueryRow(ctx, selectUser+"WHERE phone = $1", phone))
}

// GetUserByUsername returns the user with this lower-case username.
func (s *Store) GetUserByUsername(ctx context.Context, usernameKey string) (latchkey.User, error) {
	return scanUser(s.pool.QueryRow(ctx, selectUser+"WHERE username_key = $1", usernameKey))
}

// GetUserByExternalID returns the user with this external user ID.
func (s *Store) GetUserByExternalID(ctx context.Context, externalID string) (latchkey.User, error) {
	return scanUser(s.pool.QueryRow(ctx, selectUser+"WHERE external_user_id = $1", externalID))
}

// userSortColumns maps each sort to an expression that orders exactly as
// SQLite does: empty values first, never NULL, and text in byte order
// (COLLATE "C", SQLite's BINARY) whatever the database's collation.
var userSortColumns = map[latchkey.UserSort]string{
	latchkey.SortCreatedAt:   "u.created_at",
	latchkey.SortEmail:       `COALESCE(u.email_key, '') COLLATE "C"`,
	latchkey.SortPhoneNumber: `COALESCE(u.phone, '') COLLATE "C"`,
	latchkey.SortLastAuth:    "u.last_auth_at",
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
		queries[key] = "SELECT " + cols + " FROM users u JOIN app_users m ON m.user_id = u.id AND m.app_id = $1 WHERE u." + col + " = $2"
	}
	return queries
}()

// GetMember returns a user of the app and its membership with one query.
func (s *Store) GetMember(ctx context.Context, appID string, key latchkey.UserKey, value string) (latchkey.User, latchkey.AppUser, error) {
	query, ok := memberQueries[key]
	if !ok {
		return latchkey.User{}, latchkey.AppUser{}, fmt.Errorf("postgres: unknown user key %q", key)
	}
	var (
		us  userScan
		mem memberScan
	)
	err := s.pool.QueryRow(ctx, query, appID, value).Scan(append(us.dest(), mem.dest()...)...)
	if err != nil {
		return latchkey.User{}, latchkey.AppUser{}, translate(err)
	}
	u, err := us.user()
	return u, mem.member(), err
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
	where := "WHERE m.app_id = $1"
	args := []any{f.AppID}
	if f.Prefix != "" {
		// substr and length count characters, as SQLite's do on text, so
		// the prefix matches the same users on both backends.
		where += " AND (substr(COALESCE(u.email_key, ''), 1, length($2::text)) = $2::text" +
			" OR substr(COALESCE(u.phone, ''), 1, length($2::text)) = $2::text)"
		args = append(args, f.Prefix)
	}
	from := " FROM app_users m JOIN users u ON u.id = m.user_id "
	var page latchkey.UserPage
	if err := s.pool.QueryRow(ctx, "SELECT COUNT(*)"+from+where, args...).Scan(&page.Total); err != nil {
		return page, translate(err)
	}
	cols := "u." + strings.Join(userColumnNames, ", u.") + ", m." + strings.ReplaceAll(memberColumns, ", ", ", m.")
	n := len(args)
	query := fmt.Sprintf(`SELECT %s%s%s ORDER BY %s %s, u.id COLLATE "C" %s LIMIT $%d OFFSET $%d`,
		cols, from, where, col, dir, dir, n+1, n+2)
	rows, err := s.pool.Query(ctx, query, append(args, sqlLimit(f.Limit), sqlOffset(f.Offset))...)
	if err != nil {
		return page, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var us userScan
		var mem memberScan
		if err := rows.Scan(append(us.dest(), mem.dest()...)...); err != nil {
			return page, translate(err)
		}
		u, err := us.user()
		if err != nil {
			return page, err
		}
		page.Users = append(page.Users, u)
		page.Members = append(page.Members, mem.member())
	}
	return page, translate(rows.Err())
}

// UpdateUser applies update to the user in one transaction, reading the
// row FOR UPDATE so concurrent updates never lose each other's changes.
func (s *Store) UpdateUser(ctx context.Context, id string, update func(*latchkey.User) error) (latchkey.User, error) {
	var out latchkey.User
	err := s.inTx(ctx, func(tx pgx.Tx) (err error) {
		out, err = updateUser(ctx, tx, id, update)
		return err
	})
	return out, err
}

// updateUser reads the user for update, applies update and writes it.
func updateUser(ctx context.Context, tx pgx.Tx, id string, update func(*latchkey.User) error) (latchkey.User, error) {
	u, err := scanUser(tx.QueryRow(ctx, selectUser+"WHERE id = $1 FOR UPDATE", id))
	if err != nil {
		return latchkey.User{}, err
	}
	if err := update(&u); err != nil {
		return latchkey.User{}, err
	}
	return writeUser(ctx, tx, id, u)
}

// writeUser stores u as the user id; the ID itself never changes.
func writeUser(ctx context.Context, tx pgx.Tx, id string, u latchkey.User) (latchkey.User, error) {
	b := &pgx.Batch{}
	u, err := queueUserWrite(b, id, u)
	if err != nil {
		return latchkey.User{}, err
	}
	return u, sendBatch(ctx, tx, b)
}

// queueUserWrite queues writeUser's statement and returns u as it will be
// stored.
func queueUserWrite(b *pgx.Batch, id string, u latchkey.User) (latchkey.User, error) {
	u.ID = id
	row, err := userRow(u)
	if err != nil {
		return latchkey.User{}, err
	}
	b.Queue(updateUserSQL, append(row[1:], id)...)
	return u, nil
}

// UpdateUserInApp applies update to a member user and its membership in one
// transaction. It locks the user row before the membership row, the order
// DeleteUser's cascade takes them in, so the two cannot deadlock.
func (s *Store) UpdateUserInApp(ctx context.Context, appID, userID string, update func(*latchkey.User, *latchkey.AppUser) error) (latchkey.User, latchkey.AppUser, error) {
	var (
		outUser   latchkey.User
		outMember latchkey.AppUser
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// A missing user has no membership either, so ErrNotFound from
		// either read is the "not a member" the contract asks for.
		u, err := scanUser(tx.QueryRow(ctx, selectUser+"WHERE id = $1 FOR UPDATE", userID))
		if err != nil {
			return err
		}
		m, err := scanMember(tx.QueryRow(ctx, selectMember+" FOR UPDATE", appID, userID))
		if err != nil {
			return err
		}
		if err := update(&u, &m); err != nil {
			return err
		}
		if outUser, err = writeUser(ctx, tx, userID, u); err != nil {
			return err
		}
		m.AppID, m.UserID = appID, userID
		if _, err := tx.Exec(ctx,
			"UPDATE app_users SET external_account_id = $1, custom_app_data = $2, added_at = $3 WHERE app_id = $4 AND user_id = $5",
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
	return affectedOne(s.pool.Exec(ctx, "DELETE FROM users WHERE id = $1", id))
}

// GetAppUser returns the user's membership in the app.
func (s *Store) GetAppUser(ctx context.Context, appID, userID string) (latchkey.AppUser, error) {
	return scanMember(s.pool.QueryRow(ctx, selectMember, appID, userID))
}

// AddAppUser makes the user a member of the app. A missing user or app is
// a foreign key violation, reported as ErrNotFound.
func (s *Store) AddAppUser(ctx context.Context, member latchkey.AppUser) error {
	return insertMember(ctx, s.pool, member)
}

// RemoveAppUser ends the user's membership in the app.
func (s *Store) RemoveAppUser(ctx context.Context, appID, userID string) error {
	return affectedOne(s.pool.Exec(ctx, "DELETE FROM app_users WHERE app_id = $1 AND user_id = $2", appID, userID))
}
