package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// The driver parses a statement's SQL every time it is run unless the
// statement is prepared; parsing was a fifth of the server's CPU in a login
// benchmark. pool and tx prepare each query text once per pool and reuse
// it, on every connection and inside transactions, behind the same method
// names as database/sql so the queries read the same.

// pool is a *sql.DB whose queries run as cached prepared statements.
//
// Preparing needs a free connection, and the write pool has exactly one,
// which a transaction holds while it runs: a query first met inside a
// transaction therefore runs unprepared that time and is noted as pending,
// and the next BeginTx prepares the pending queries before it takes the
// connection.
type pool struct {
	*sql.DB
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool
}

func newPool(db *sql.DB) *pool {
	return &pool{DB: db, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// cached returns the prepared statement for query, or nil, noting the query
// as pending when it is not prepared yet.
func (p *pool) cached(query string) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.stmts[query]
	if !ok {
		p.pending[query] = true
	}
	return st
}

// preparePending prepares the queries first met inside transactions. It
// must not run inside a transaction of this pool.
func (p *pool) preparePending(ctx context.Context) {
	p.mu.Lock()
	var queries []string
	for q := range p.pending {
		queries = append(queries, q)
	}
	p.pending = map[string]bool{}
	p.mu.Unlock()
	for _, q := range queries {
		_, _ = p.prepared(ctx, q) // a query that fails to prepare keeps running unprepared
	}
}

// prepared returns the prepared statement for query, preparing it once.
func (p *pool) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := p.lookup(query); st != nil {
		return st, nil
	}
	// Prepare without the lock: it may wait for a free connection.
	st, err := p.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return p.keep(query, st), nil
}

func (p *pool) lookup(query string) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stmts[query]
}

// keep caches st for query, unless another caller prepared it meanwhile.
func (p *pool) keep(query string, st *sql.Stmt) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	if existing, ok := p.stmts[query]; ok {
		st.Close()
		return existing
	}
	p.stmts[query] = st
	return st
}

// ExecContext runs a statement that returns no rows.
func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs a query that returns rows.
func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs a query that returns at most one row. A query that
// cannot be prepared runs unprepared, so its error reaches Scan as usual.
func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.prepared(ctx, query)
	if err != nil {
		return p.DB.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// BeginTx starts a transaction whose queries also use the prepared
// statements.
func (p *pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	p.preparePending(ctx)
	t, err := p.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, pool: p}, nil
}

// Close closes the prepared statements and the pool.
func (p *pool) Close() error {
	p.mu.Lock()
	for _, st := range p.stmts {
		st.Close()
	}
	p.stmts = map[string]*sql.Stmt{}
	p.mu.Unlock()
	return p.DB.Close()
}

// tx is a transaction that runs its queries as the pool's prepared
// statements, bound to the transaction's connection.
type tx struct {
	*sql.Tx
	pool *pool
}

// ExecContext runs a statement that returns no rows in the transaction.
func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.pool.cached(query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query that returns rows in the transaction.
func (t *tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.pool.cached(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query that returns at most one row in the
// transaction.
func (t *tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.pool.cached(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
