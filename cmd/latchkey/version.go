package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/latchkeyhq/latchkey"
)

const versionUsage = `version

Prints this build's version, the commit it was built from (marked
"modified" when the working tree had uncommitted changes), that commit's
date and the Go release, from the information Go records in the binary.
"go install" records the module's version; "go run" records no commit.`

// cmdVersion prints what this build is.
func cmdVersion(_ context.Context, args []string, e env) int {
	fs := newFlagSet("version", versionUsage, e)
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	b := readBuild()
	fmt.Fprintf(e.stdout, "latchkey %s\n", b.version)
	if b.module != "" {
		fmt.Fprintf(e.stdout, "  module   %s\n", b.module)
	}
	fmt.Fprintf(e.stdout, "  commit   %s\n  date     %s\n  go       %s\n", b.commit, b.date, b.goVersion)
	return exitOK
}

// build is what a binary says about how it was built.
type build struct {
	version   string // latchkey.Version
	module    string // the module version Go records (a pseudo-version for a checkout); "" under go run
	commit    string // the VCS revision, "(modified)" appended for a dirty tree
	date      string // the commit's date
	goVersion string
}

// readBuild reads the build information Go stamps into the binary: the
// VCS revision, time and dirty flag under "go build" in a git checkout
// (not a worktree, nor with -buildvcs=false), the module version under "go
// install module@version", neither under "go run" or in tests.
func readBuild() build {
	info, _ := debug.ReadBuildInfo()
	return buildOf(info)
}

// buildOf reads what info says (nil: nothing).
func buildOf(info *debug.BuildInfo) build {
	b := build{version: latchkey.Version, commit: "unknown (no version control information, as under go run)",
		date: "unknown", goVersion: "unknown"}
	if info == nil {
		return b
	}
	b.goVersion = info.GoVersion
	if v := info.Main.Version; v != "" && v != "(devel)" {
		b.module = v
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		b.commit = rev
		if settings["vcs.modified"] == "true" {
			b.commit += " (modified)"
		}
	}
	if t := settings["vcs.time"]; t != "" {
		b.date = t
	}
	return b
}
