package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// commandPaths lists every command and subcommand as its words, from the
// tables the program dispatches with, so that a command added to them is
// walked too.
func commandPaths() [][]string {
	var paths [][]string
	for _, c := range commands {
		words := strings.Fields(c.name)
		paths = append(paths, words)
		for _, sub := range c.sub {
			paths = append(paths, append(words[:len(words):len(words)], sub))
		}
	}
	return paths
}

// singleDashFlag finds a flag written with one dash, as Go's flag package
// writes them; "-h, --help" is the one allowed.
var singleDashFlag = regexp.MustCompile(`(^|[\s\[(])-[A-Za-z][\w-]*`)

// TestEveryCommandsHelp asks every command and subcommand for help in each
// way (--help, -h, "latchkey help ..."): the help goes to stdout, nothing to
// stderr, the exit is 0, it starts the same way everywhere, writes flags
// with two dashes, and touches no database.
func TestEveryCommandsHelp(t *testing.T) {
	te := newTestEnv(t)
	dbDir := filepath.Join(t.TempDir(), "not-created")
	te.vars["LATCHKEY_DATABASE_URL"] = "sqlite:" + filepath.Join(dbDir, "latchkey.db")
	for _, path := range commandPaths() {
		name := strings.Join(path, " ")
		for _, args := range [][]string{append(path[:len(path):len(path)], "--help"), append(path[:len(path):len(path)], "-h"),
			append([]string{"help"}, path...)} {
			code, out, errOut := te.runCmd(args...)
			if code != exitOK || errOut != "" {
				t.Errorf("latchkey %s: exit %d, stderr %q; want 0 and the help on stdout only", strings.Join(args, " "), code, errOut)
				continue
			}
			if !strings.HasPrefix(out, "Usage: latchkey "+name) {
				t.Errorf("latchkey %s prints %q...; want it to start with \"Usage: latchkey %s\"", strings.Join(args, " "), firstLine(out), name)
			}
			if m := singleDashFlag.FindString(strings.ReplaceAll(out, "-h, --help", "")); m != "" {
				t.Errorf("latchkey %s writes the flag %q with one dash; want --flag, as the README writes them", strings.Join(args, " "), strings.TrimSpace(m))
			}
		}
	}
	if _, err := os.Stat(dbDir); !os.IsNotExist(err) {
		t.Error("asking for help created the database")
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		if code, out, errOut := te.runCmd(args...); code != exitOK || errOut != "" || !strings.Contains(out, "latchkey serve") {
			t.Errorf("latchkey %s: exit %d, stdout %q, stderr %q; want the usage on stdout", args[0], code, firstLine(out), errOut)
		}
	}
}

// TestEveryCommandsUsageErrors gives every command and subcommand a flag it
// does not have, and the groups no subcommand or an unknown one: each is a
// usage error on stderr, naming the flag with two dashes, with nothing on
// stdout and exit 2.
func TestEveryCommandsUsageErrors(t *testing.T) {
	te := newTestEnv(t)
	check := func(args []string, want string) {
		t.Helper()
		code, out, errOut := te.runCmd(args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, want) {
			t.Errorf("latchkey %s: exit %d, stdout %q, stderr %q; want exit 2 and %q on stderr only",
				strings.Join(args, " "), code, firstLine(out), firstLine(errOut), want)
		}
	}
	for _, c := range commands {
		if len(c.sub) > 0 {
			check([]string{c.name}, "Usage: latchkey "+c.name)
			check([]string{c.name, "no-such-command"}, `unknown command "no-such-command"`)
			for _, sub := range c.sub {
				check([]string{c.name, sub, "--no-such-flag"}, "--no-such-flag")
			}
			continue
		}
		check(append(strings.Fields(c.name), "--no-such-flag"), "--no-such-flag")
	}
	check(nil, "Usage:")
	check([]string{"no-such-command"}, `unknown command "no-such-command"`)
	check([]string{"version", "extra"}, `unexpected argument "extra"`)
	check([]string{"backup"}, "want exactly one PATH")
	check([]string{"apps", "show"}, "want exactly one APP")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
