// Command latchkey is the Latchkey server and its operator CLI: serve, dev,
// migrate, backup, version, and the apps, keys and messages commands. This
// package is the only place where the parts are wired together, the
// environment is read, and the real clock and random source are chosen.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
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
	// dev is set while `latchkey dev` starts: it then says what it does.
	dev bool
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one of latchkey's commands.
type command struct {
	name    string // and its arguments, as the usage shows them
	summary string
	run     func(ctx context.Context, args []string, e env) int
	// sub lists a command group's subcommands, for the usage and the
	// tests that walk every command.
	sub []string
}

// commands lists every command, in the order the usage shows them.
var commands = []command{
	{"serve", "run the server", func(ctx context.Context, args []string, e env) int { return cmdServe(ctx, args, e, false) }, nil},
	{"dev", "run a local dev server: SQLite, dev inbox, a demo app", func(ctx context.Context, args []string, e env) int { return cmdServe(ctx, args, e, true) }, nil},
	{"dev inbox", "print the newest dev inbox message's code and link", cmdDevInbox, nil},
	{"migrate", "apply database migrations and exit (--status: show them)", cmdMigrate, nil},
	{"apps", "manage applications", cmdApps, sortedNames(appsCommands)},
	{"keys", "manage signing keys", cmdKeys, sortedNames(keysCommands)},
	{"messages", "show the email and SMS outbox and each message's delivery", cmdMessages, sortedNames(messagesCommands)},
	{"bench", "load-test a running server with real login flows", cmdBench, nil},
	{"backup", "write a consistent copy of a live SQLite database to PATH", cmdBackup, nil},
	{"version", "print the version, commit and date of this build", cmdVersion, nil},
}

// find returns the command args name, the longest that matches: "dev
// inbox" before "dev".
func find(args []string) (command, bool) {
	var found command
	longest := 0
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(words) > longest && len(words) <= len(args) && slices.Equal(words, args[:len(words)]) {
			found, longest = c, len(words)
		}
	}
	return found, longest > 0
}

// usage is the top-level help.
func usage(w io.Writer) {
	fmt.Fprint(w, "Latchkey: passwordless login (email and SMS one-time passcodes, magic links) with OIDC tokens.\n\nUsage:\n")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, c := range commands {
		synopsis, summary := c.name, c.summary
		switch {
		case c.name == "backup":
			synopsis += " PATH"
		case len(c.sub) > 0:
			synopsis += " <command>"
			summary += " (" + strings.Join(c.sub, ", ") + ")"
		}
		fmt.Fprintf(tw, "  latchkey %s\t%s\n", synopsis, summary)
	}
	fmt.Fprintln(tw, "  latchkey help [COMMAND]\tshow this help, or a command's")
	tw.Flush()
	fmt.Fprint(w, "\nEvery command takes --help. Configuration comes from environment variables; see \"latchkey serve --help\".\n")
}

// run runs one command and returns the process exit code.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && name == "help" {
			return run(ctx, append(rest, "--help"), e)
		}
		usage(e.stdout)
		return exitOK
	case "--version":
		return cmdVersion(ctx, rest, e)
	}
	if c, ok := find(args); ok {
		return c.run(ctx, args[len(strings.Fields(c.name)):], e)
	}
	fmt.Fprintf(e.stderr, "latchkey: unknown command %q\n", name)
	fmt.Fprintln(e.stderr, "Run \"latchkey help\" for usage.")
	return exitUsage
}
