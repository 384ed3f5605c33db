package postgres

import (
	"context"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConnectionsDetectASilentServer checks, on a real connection from
// the pool, the socket options that make a dead server found: keepalive
// probes and TCP_USER_TIMEOUT.
func TestConnectionsDetectASilentServer(t *testing.T) {
	url := os.Getenv("LATCHKEY_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("PostgreSQL tests skipped: set LATCHKEY_TEST_POSTGRES_URL=postgres://... to run them")
	}
	s, err := Open(context.Background(), url, Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := s.pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tcp, ok := conn.Conn().PgConn().Conn().(*net.TCPConn)
	if !ok {
		t.Skipf("the test server is not reached over plain TCP (%T)", conn.Conn().PgConn().Conn())
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name       string
		level, opt int
		value      int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepAliveIdle.Seconds())},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepAliveInterval.Seconds())},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount},
		{"TCP_USER_TIMEOUT", unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout.Milliseconds())},
	}
	for _, w := range want {
		var got int
		var sockErr error
		if err := raw.Control(func(fd uintptr) { got, sockErr = unix.GetsockoptInt(int(fd), w.level, w.opt) }); err != nil {
			t.Fatal(err)
		}
		if sockErr != nil || got != w.value {
			t.Errorf("%s = %d, %v; want %d", w.name, got, sockErr, w.value)
		}
	}
}
