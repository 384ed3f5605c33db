package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey"
)

const messageColumns = `id, app_id, channel, recipient, subject, body_text, body_html, sender, status, attempts,
	last_error, provider, created_at, next_attempt_at, expires_at, sent_at, sealed, suppressed`

func insertMessage(ctx context.Context, tx *tx, m latchkey.Message) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO outbox ("+messageColumns+") VALUES ("+placeholders(18)+")",
		m.ID, m.AppID, string(m.Channel), m.To, m.Subject, m.Text, m.HTML, m.From, string(m.Status), m.Attempts,
		m.LastError, m.Provider, ms(m.CreatedAt), ms(m.NextAttemptAt), ms(m.ExpiresAt), ms(m.SentAt), bytesOrEmpty(m.Sealed), m.Suppressed)
	return translate(err)
}

func scanMessage(row scanner) (latchkey.Message, error) {
	var (
		m                              latchkey.Message
		channel, status                string
		created, next, expires, sentAt int64
	)
	err := row.Scan(&m.ID, &m.AppID, &channel, &m.To, &m.Subject, &m.Text, &m.HTML, &m.From, &status, &m.Attempts,
		&m.LastError, &m.Provider, &created, &next, &expires, &sentAt, &m.Sealed, &m.Suppressed)
	if err != nil {
		return m, translate(err)
	}
	if len(m.Sealed) == 0 {
		m.Sealed = nil
	}
	m.Channel, m.Status = latchkey.Channel(channel), latchkey.MessageStatus(status)
	m.CreatedAt, m.NextAttemptAt, m.ExpiresAt, m.SentAt = fromMS(created), fromMS(next), fromMS(expires), fromMS(sentAt)
	return m, nil
}

// ClaimMessages leases due messages to the caller. The single write
// connection makes the select-and-update atomic.
func (s *Store) ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]latchkey.Message, error) {
	var out []latchkey.Message
	err := s.inTx(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+messageColumns+
			" FROM outbox WHERE status = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at LIMIT ?", ms(now), limit)
		if err != nil {
			return translate(err)
		}
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return translate(err)
		}
		for i := range out {
			out[i].NextAttemptAt = leaseUntil
			if _, err := tx.ExecContext(ctx, "UPDATE outbox SET next_attempt_at = ? WHERE id = ?", ms(leaseUntil), out[i].ID); err != nil {
				return translate(err)
			}
		}
		return nil
	})
	return out, err
}

// UpdateMessage applies update to a message; one that is no longer queued
// loses its content.
func (s *Store) UpdateMessage(ctx context.Context, id string, update func(*latchkey.Message) error) (latchkey.Message, error) {
	var out latchkey.Message
	err := s.inTx(ctx, func(tx *tx) error {
		var err error
		out, err = updateMessage(ctx, tx, id, update)
		return err
	})
	return out, err
}

// UpdateMessages applies each update to its message, all in one
// transaction.
func (s *Store) UpdateMessages(ctx context.Context, updates []latchkey.MessageUpdate) ([]latchkey.Message, error) {
	if len(updates) == 0 {
		return nil, nil
	}
	var out []latchkey.Message
	err := s.inTx(ctx, func(tx *tx) error {
		out = out[:0]
		for _, u := range updates {
			m, err := updateMessage(ctx, tx, u.ID, u.Update)
			if errors.Is(err, latchkey.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// updateMessage reads, changes and writes one message in tx.
func updateMessage(ctx context.Context, tx *tx, id string, update func(*latchkey.Message) error) (latchkey.Message, error) {
	m, err := scanMessage(tx.QueryRowContext(ctx, "SELECT "+messageColumns+" FROM outbox WHERE id = ?", id))
	if err != nil {
		return m, err
	}
	if err := update(&m); err != nil {
		return m, err
	}
	if m.Status != latchkey.MessageQueued {
		m.Subject, m.Text, m.HTML, m.Sealed = "", "", "", nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE outbox SET subject = ?, body_text = ?, body_html = ?, sealed = ?, status = ?,
		attempts = ?, last_error = ?, provider = ?, next_attempt_at = ?, sent_at = ? WHERE id = ?`,
		m.Subject, m.Text, m.HTML, bytesOrEmpty(m.Sealed), string(m.Status), m.Attempts, m.LastError, m.Provider,
		ms(m.NextAttemptAt), ms(m.SentAt), id)
	m.ID = id
	return m, translate(err)
}

// ListMessages returns messages, newest first, without their content.
func (s *Store) ListMessages(ctx context.Context, status latchkey.MessageStatus, limit int) ([]latchkey.Message, error) {
	query, args := "SELECT "+messageColumns+" FROM outbox", []any{}
	if status != "" {
		query, args = query+" WHERE status = ?", append(args, string(status))
	}
	rows, err := s.read.QueryContext(ctx, query+" ORDER BY created_at DESC, id LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []latchkey.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		m.Subject, m.Text, m.HTML, m.Sealed = "", "", "", nil
		out = append(out, m)
	}
	return out, translate(rows.Err())
}

// DeleteFinishedMessages removes delivered and failed messages.
func (s *Store) DeleteFinishedMessages(ctx context.Context, before time.Time) (int, error) {
	return s.deleteChunked(ctx, "outbox", "status <> 'queued' AND created_at < ?", ms(before))
}

// OutboxBacklog counts the queued messages, on a reading connection so
// that the writer never waits for it.
func (s *Store) OutboxBacklog(ctx context.Context) (latchkey.OutboxBacklog, error) {
	var (
		b      latchkey.OutboxBacklog
		oldest sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, "SELECT count(*), min(created_at) FROM outbox WHERE status = 'queued'").Scan(&b.Queued, &oldest)
	if oldest.Valid {
		b.Oldest = fromMS(oldest.Int64)
	}
	return b, translate(err)
}

// AddDevMessage stores a message the dev inbox captured.
func (s *Store) AddDevMessage(ctx context.Context, m latchkey.DevMessage) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO dev_messages (id, app_id, channel, recipient, subject, body_text, body_html, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, m.AppID, string(m.Channel), m.To, m.Subject, m.Text, m.HTML, ms(m.CreatedAt))
	return translate(err)
}

// ListDevMessages returns captured messages, newest first.
func (s *Store) ListDevMessages(ctx context.Context, to string, limit int) ([]latchkey.DevMessage, error) {
	// Two statements, not "? = '' OR recipient = ?": a condition on a
	// parameter keeps the planner off the recipient index, and the inbox
	// of a busy dev server is read per recipient on every login.
	query, args := `SELECT id, app_id, channel, recipient, subject, body_text, body_html, created_at
		FROM dev_messages ORDER BY created_at DESC, rowid DESC LIMIT ?`, []any{limit}
	if to != "" {
		query, args = `SELECT id, app_id, channel, recipient, subject, body_text, body_html, created_at
		FROM dev_messages WHERE recipient = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`, []any{to, limit}
	}
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []latchkey.DevMessage
	for rows.Next() {
		var (
			m       latchkey.DevMessage
			channel string
			created int64
		)
		if err := rows.Scan(&m.ID, &m.AppID, &channel, &m.To, &m.Subject, &m.Text, &m.HTML, &created); err != nil {
			return nil, translate(err)
		}
		m.Channel, m.CreatedAt = latchkey.Channel(channel), fromMS(created)
		out = append(out, m)
	}
	return out, translate(rows.Err())
}

// DeleteDevMessages removes captured messages older than before.
func (s *Store) DeleteDevMessages(ctx context.Context, before time.Time) (int, error) {
	return s.deleteChunked(ctx, "dev_messages", "created_at < ?", ms(before))
}
