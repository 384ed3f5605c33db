package postgres

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
)

const messageColumns = `id, app_id, channel, recipient, subject, body_text, body_html, sender, status, attempts,
	last_error, provider, created_at, next_attempt_at, expires_at, sent_at, sealed, suppressed`

const selectMessage = "SELECT " + messageColumns + " FROM outbox "

func queueMessage(b *pgx.Batch, m latchkey.Message) {
	b.Queue("INSERT INTO outbox ("+messageColumns+") VALUES ("+placeholders(1, 18)+")",
		m.ID, m.AppID, string(m.Channel), m.To, m.Subject, m.Text, m.HTML, m.From, string(m.Status), m.Attempts,
		m.LastError, m.Provider, ms(m.CreatedAt), ms(m.NextAttemptAt), ms(m.ExpiresAt), ms(m.SentAt), bytesOrEmpty(m.Sealed), m.Suppressed)
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

// scanMessages reads every row of a messages query and closes it.
func scanMessages(rows pgx.Rows) ([]latchkey.Message, error) {
	defer rows.Close()
	var out []latchkey.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, translate(rows.Err())
}

// ClaimMessages leases due messages to the caller. The due rows are selected
// FOR UPDATE SKIP LOCKED: a row another worker is claiming is passed over
// instead of waited for, and one it has already claimed no longer matches
// next_attempt_at <= now when PostgreSQL re-checks it, so concurrent workers
// take disjoint batches.
func (s *Store) ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]latchkey.Message, error) {
	var out []latchkey.Message
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, selectMessage+`WHERE status = 'queued' AND next_attempt_at <= $1
			ORDER BY next_attempt_at, created_at LIMIT $2 FOR UPDATE SKIP LOCKED`, ms(now), sqlLimit(limit))
		if err != nil {
			return translate(err)
		}
		if out, err = scanMessages(rows); err != nil || len(out) == 0 {
			return err
		}
		// One update per message by its primary key, in one round trip:
		// see UpdateMessages for why not "id = ANY($2)".
		b := &pgx.Batch{}
		for i := range out {
			out[i].NextAttemptAt = leaseUntil
			b.Queue("UPDATE outbox SET next_attempt_at = $1 WHERE id = $2", ms(leaseUntil), out[i].ID)
		}
		return translate(tx.SendBatch(ctx, b).Close())
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateMessage applies update to a message in one transaction, reading it
// FOR UPDATE; one that is no longer queued loses its content.
func (s *Store) UpdateMessage(ctx context.Context, id string, update func(*latchkey.Message) error) (latchkey.Message, error) {
	var out latchkey.Message
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		m, err := scanMessage(tx.QueryRow(ctx, selectMessage+"WHERE id = $1 FOR UPDATE", id))
		if err != nil {
			return err
		}
		if err := update(&m); err != nil {
			return err
		}
		m.ID = id
		b := &pgx.Batch{}
		queueMessageUpdate(b, &m)
		out = m
		return translate(tx.SendBatch(ctx, b).Close())
	})
	return out, err
}

// UpdateMessages applies each update to its message in one transaction, in
// two round trips: the messages read FOR UPDATE (in ID order, so that two
// batches lock their rows in the same order), then their writes with the
// COMMIT.
func (s *Store) UpdateMessages(ctx context.Context, updates []latchkey.MessageUpdate) ([]latchkey.Message, error) {
	if len(updates) == 0 {
		return nil, nil
	}
	ids := make([]string, len(updates))
	for i, u := range updates {
		ids[i] = u.ID
	}
	var (
		found map[string]latchkey.Message
		out   []latchkey.Message
	)
	// One statement per message, by its primary key, rather than one
	// "id = ANY($1)": a prepared statement's generic plan is made from the
	// table's statistics when it is first cached, and a plan made while the
	// outbox was small scanned the whole table on every batch once it had
	// grown (2 ms a batch, the largest item of PostgreSQL's time in an
	// email login). A lookup by primary key is planned the same way at any
	// size. The statements share the batch's round trip.
	slices.Sort(ids)
	read := func(b *pgx.Batch) {
		found = make(map[string]latchkey.Message, len(updates))
		for _, id := range ids {
			b.Queue(selectMessage+"WHERE id = $1 FOR UPDATE", id).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					m, err := scanMessage(rows)
					if err != nil {
						return err
					}
					found[m.ID] = m
				}
				return rows.Err()
			})
		}
	}
	err := s.inPipeline(ctx, read, func(*pgx.Conn) (*pgx.Batch, error) {
		out = out[:0]
		b := &pgx.Batch{}
		for _, u := range updates {
			m, ok := found[u.ID]
			if !ok {
				continue
			}
			if err := u.Update(&m); err != nil {
				return nil, err
			}
			m.ID = u.ID
			queueMessageUpdate(b, &m)
			out = append(out, m)
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queueMessageUpdate queues the write of m's changeable fields, erasing
// its content when it is no longer queued.
func queueMessageUpdate(b *pgx.Batch, m *latchkey.Message) {
	if m.Status != latchkey.MessageQueued {
		m.Subject, m.Text, m.HTML, m.Sealed = "", "", "", nil
	}
	b.Queue(`UPDATE outbox SET subject = $1, body_text = $2, body_html = $3, sealed = $4, status = $5,
		attempts = $6, last_error = $7, provider = $8, next_attempt_at = $9, sent_at = $10 WHERE id = $11`,
		m.Subject, m.Text, m.HTML, bytesOrEmpty(m.Sealed), string(m.Status), m.Attempts, m.LastError, m.Provider,
		ms(m.NextAttemptAt), ms(m.SentAt), m.ID)
}

// ListMessages returns messages, newest first, without their content.
func (s *Store) ListMessages(ctx context.Context, status latchkey.MessageStatus, limit int) ([]latchkey.Message, error) {
	query, args := selectMessage, []any{}
	if status != "" {
		query, args = query+"WHERE status = $1 ", append(args, string(status))
	}
	args = append(args, sqlLimit(limit))
	rows, err := s.pool.Query(ctx, query+`ORDER BY created_at DESC, id COLLATE "C" LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, translate(err)
	}
	out, err := scanMessages(rows)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Subject, out[i].Text, out[i].HTML, out[i].Sealed = "", "", "", nil
	}
	return out, nil
}

// DeleteFinishedMessages removes delivered and failed messages.
func (s *Store) DeleteFinishedMessages(ctx context.Context, before time.Time) (int, error) {
	return s.deleteChunked(ctx, "outbox", "status <> 'queued' AND created_at < $1", ms(before))
}

// OutboxBacklog counts the queued messages.
func (s *Store) OutboxBacklog(ctx context.Context) (latchkey.OutboxBacklog, error) {
	var (
		b      latchkey.OutboxBacklog
		oldest *int64
	)
	err := s.pool.QueryRow(ctx, "SELECT count(*), min(created_at) FROM outbox WHERE status = 'queued'").Scan(&b.Queued, &oldest)
	if oldest != nil {
		b.Oldest = fromMS(*oldest)
	}
	return b, translate(err)
}

// AddDevMessage stores a message the dev inbox captured.
func (s *Store) AddDevMessage(ctx context.Context, m latchkey.DevMessage) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO dev_messages (id, app_id, channel, recipient, subject, body_text, body_html, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, m.ID, m.AppID, string(m.Channel), m.To, m.Subject, m.Text, m.HTML, ms(m.CreatedAt))
	return translate(err)
}

// ListDevMessages returns captured messages, newest first; seq orders
// messages captured in the same millisecond as SQLite's rowid does.
func (s *Store) ListDevMessages(ctx context.Context, to string, limit int) ([]latchkey.DevMessage, error) {
	// Two statements, not "$1 = '' OR recipient = $1": a condition on a
	// parameter keeps a generic plan off the recipient index.
	query, args := `SELECT id, app_id, channel, recipient, subject, body_text, body_html, created_at
		FROM dev_messages ORDER BY created_at DESC, seq DESC LIMIT $1`, []any{sqlLimit(limit)}
	if to != "" {
		query, args = `SELECT id, app_id, channel, recipient, subject, body_text, body_html, created_at
		FROM dev_messages WHERE recipient = $1 ORDER BY created_at DESC, seq DESC LIMIT $2`, []any{to, sqlLimit(limit)}
	}
	rows, err := s.pool.Query(ctx, query, args...)
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
	return s.deleteChunked(ctx, "dev_messages", "created_at < $1", ms(before))
}
