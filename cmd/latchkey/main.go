// Command latchkey is the Latchkey server and its operator CLI: serve, dev,
// migrate, and the apps and keys commands. This package is the only place
// where the parts are wired together, the environment is read, and the real
// clock and random source are chosen.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// gcPercent is the garbage collector's target when GOGC is not set: collect
// when the heap has grown to three times what survived the last
// collection, not Go's default of twice. Nearly everything a login
// allocates is garbage once its answer is written; collecting half as
// often cost about 8 MB of resident memory and saved about a tenth of the
// server's CPU per login at the peak (BENCHMARKS.md). GOGC, when set, wins.
const gcPercent = 200

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the first signal drains; a second one ends the process at once
	}()
	os.Exit(run(ctx, os.Args[1:], env{
		getenv: os.Getenv,
		stdout: os.Stdout,
		stderr: os.Stderr,
		now:    time.Now,
		rand:   rand.Reader,
	}))
}

// env is what a command takes from its surroundings, so that tests can run
// the real program with their own.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
	rand   io.Reader
	// listening, when set, is told the server's address once it accepts
	// connections.
	listening func(addr string)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usage = `Latchkey: passwordless login (email and SMS one-time passcodes, magic links) with OIDC tokens.

Usage:
  latchkey serve                 run the server
  latchkey dev                   run a local dev server: SQLite, dev inbox, a demo app
  latchkey migrate               apply database migrations and exit
  latchkey apps <command>        manage applications (create, list, show, update, rotate-secret, delete)
  latchkey keys <command>        manage signing keys (list, rotate)
  latchkey messages list         show the email and SMS outbox and each message's delivery
  latchkey bench [flags]         load-test a running server with real login flows
  latchkey version               print the version

Configuration comes from environment variables; see "latchkey serve --help".
`

// run runs one command and returns the process exit code.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, e, false)
	case "dev":
		return cmdServe(ctx, rest, e, true)
	case "migrate":
		return cmdMigrate(ctx, rest, e)
	case "apps":
		return cmdApps(ctx, rest, e)
	case "keys":
		return cmdKeys(ctx, rest, e)
	case "messages":
		return cmdMessages(ctx, rest, e)
	case "bench":
		return cmdBench(ctx, rest, e)
	case "version", "--version":
		fmt.Fprintln(e.stdout, "latchkey", latchkey.Version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(e.stderr, "latchkey: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}
