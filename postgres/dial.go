package postgres

import (
	"net"
	"time"
)

// A connection to a server that has gone silent (a stalled host, a stuck
// PgBouncer, a path that dropped without a reset) would otherwise look
// alive for as long as the kernel's defaults allow: hours. Every
// connection therefore probes an idle peer with TCP keepalives, and on
// Linux also gives up when data it sent stays unacknowledged for
// userTimeout, so a dead connection is found and dropped from the pool
// within about half a minute, whether it is idle or in use. (A request in
// flight does not wait that long: its own deadline, LATCHKEY_DB_TIMEOUT,
// ends it first, and pgx closes a connection whose deadline passed rather
// than returning it to the pool mid-conversation.)
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	userTimeout       = keepAliveIdle + keepAliveCount*keepAliveInterval
)

// newDialer returns the dialer of every connection to PostgreSQL.
func newDialer() *net.Dialer {
	return &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
		Control:         setUserTimeout,
	}
}
