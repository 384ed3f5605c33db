package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// parseFlags parses args allowing positional arguments between flags
// ("apps show ID --json" as well as "apps show --json ID") and returns the
// positional ones. A -h or --help prints usage and reports errHelp.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newFlagSet returns a flag set that reports errors to w and prints usage.
func newFlagSet(name, usage string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: latchkey %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// flagExit turns a flag parsing error into an exit code: help is success,
// anything else a usage error (already printed by the flag package).
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
