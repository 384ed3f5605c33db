package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey"
)

const keyColumns = "id, algorithm, state, private_sealed, public_jwk, created_at, activated_at, retired_at, publish_until"

func scanKey(row scanner) (latchkey.SigningKey, error) {
	var (
		k                                        latchkey.SigningKey
		state, jwk                               string
		created, activated, retired, publishedTo int64
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &state, &k.PrivateSealed, &jwk, &created, &activated, &retired, &publishedTo); err != nil {
		return k, translate(err)
	}
	k.State, k.PublicJWK = latchkey.KeyState(state), []byte(jwk)
	k.CreatedAt, k.ActivatedAt, k.RetiredAt, k.PublishUntil = fromMS(created), fromMS(activated), fromMS(retired), fromMS(publishedTo)
	return k, nil
}

// ListKeys returns every stored key, newest first.
func (s *Store) ListKeys(ctx context.Context) ([]latchkey.SigningKey, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+keyColumns+" FROM signing_keys ORDER BY created_at DESC, id")
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var keys []latchkey.SigningKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, translate(rows.Err())
}

// CreateKey adds a key; the partial unique index refuses a second Current or
// Next key.
func (s *Store) CreateKey(ctx context.Context, k latchkey.SigningKey) error {
	return s.inTx(ctx, func(tx *tx) error { return insertKey(ctx, tx, k) })
}

func insertKey(ctx context.Context, tx *tx, k latchkey.SigningKey) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO signing_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.Algorithm, string(k.State), k.PrivateSealed, string(k.PublicJWK),
		ms(k.CreatedAt), ms(k.ActivatedAt), ms(k.RetiredAt), ms(k.PublishUntil))
	return translate(err)
}

// DeleteKey removes a key that is not Current.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *tx) error {
		var state string
		if err := tx.QueryRowContext(ctx, "SELECT state FROM signing_keys WHERE id = ?", id).Scan(&state); err != nil {
			return translate(err)
		}
		if latchkey.KeyState(state) == latchkey.KeyCurrent {
			return latchkey.ErrConflict
		}
		return affectedOne(tx.ExecContext(ctx, "DELETE FROM signing_keys WHERE id = ?", id))
	})
}

// RotateKeys retires the Current key, promotes the Next one and adds a new
// Next key, all or nothing. Each step is conditional on the key still being
// in the state the caller saw, so two nodes rotating at once cannot both win.
func (s *Store) RotateKeys(ctx context.Context, r latchkey.KeyRotation) error {
	return s.inTx(ctx, func(tx *tx) error {
		if r.RetireID != "" {
			err := affectedOne(tx.ExecContext(ctx,
				"UPDATE signing_keys SET state = 'retired', retired_at = ?, publish_until = ? WHERE id = ? AND state = 'current'",
				ms(r.At), ms(r.PublishUntil), r.RetireID))
			if err != nil {
				return conflictIfNotFound(err)
			}
		}
		err := affectedOne(tx.ExecContext(ctx,
			"UPDATE signing_keys SET state = 'current', activated_at = ? WHERE id = ? AND state = 'next'",
			ms(r.At), r.PromoteID))
		if err != nil {
			return conflictIfNotFound(err)
		}
		return insertKey(ctx, tx, r.NewNext)
	})
}

// conflictIfNotFound reports a conditional update that matched no row as a
// lost race rather than a missing row.
func conflictIfNotFound(err error) error {
	if errors.Is(err, latchkey.ErrNotFound) {
		return latchkey.ErrConflict
	}
	return err
}

// DeleteRetiredKeys removes Retired keys whose publication has ended.
func (s *Store) DeleteRetiredKeys(ctx context.Context, now time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, "DELETE FROM signing_keys WHERE state = 'retired' AND publish_until <= ?", ms(now))
	if err != nil {
		return 0, translate(err)
	}
	n, err := res.RowsAffected()
	return int(n), translate(err)
}
