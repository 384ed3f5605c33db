package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
)

// Every command parses its flags with a flag set from newFlagSet, so that
// every command's help reads the same and says what the README says:
//
//   - -h, --help (and -help) print the help to stdout and exit 0: the
//     synopsis, a description, and the flags written --flag VALUE;
//   - a usage error (an unknown flag, a bad value, a missing or extra
//     argument) is one line on stderr, naming the command, then a pointer
//     to --help, and exits 2.
//
// Go's flag package writes flags with one dash and its help to the output
// it reports errors on; the help here is printed from the flag set instead.

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// namedFunc is a flag set by a function, whose help shows its value as
// name (a flag.Func shows VALUE).
type namedFunc struct {
	name string
	set  func(string) error
}

func (f namedFunc) String() string     { return "" }
func (f namedFunc) Set(v string) error { return f.set(v) }
func (f namedFunc) valueName() string  { return f.name }

// parseFlags parses args allowing positional arguments between flags
// ("apps show ID --json" as well as "apps show --json ID") and returns the
// positional ones. A -h or --help prints the help and reports
// flag.ErrHelp.
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

// newFlagSet returns the flag set of "latchkey <name>". usage is the
// synopsis after "latchkey ", then optionally a blank line and a
// description.
func newFlagSet(name, usage string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	out := &flagErrors{w: e.stderr}
	fs.SetOutput(out)
	fs.Usage = func() {
		if out.wrote {
			fmt.Fprintf(e.stderr, "Run \"latchkey %s --help\" for usage.\n", name)
			return
		}
		printHelp(e.stdout, fs, usage)
	}
	return fs
}

// flagErrors writes the flag package's error messages, naming the command
// and writing flags with two dashes, and notes that it did.
type flagErrors struct {
	w     io.Writer
	wrote bool
}

var singleDash = regexp.MustCompile(`(^|[\s:])-([A-Za-z][\w-]*)`)

func (f *flagErrors) Write(p []byte) (int, error) {
	f.wrote = true
	_, err := io.WriteString(f.w, "latchkey: "+singleDash.ReplaceAllString(string(p), "$1--$2"))
	return len(p), err
}

// printHelp writes a command's help: "Usage: latchkey <synopsis>", the
// description, and every flag as --name VALUE with its meaning.
func printHelp(w io.Writer, fs *flag.FlagSet, usage string) {
	synopsis, description, _ := strings.Cut(usage, "\n\n")
	fmt.Fprintf(w, "Usage: latchkey %s\n", synopsis)
	if description != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(description, "\n"))
	}
	fmt.Fprint(w, "\nFlags:\n")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		value, meaning := flagValue(f)
		if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "0s" {
			meaning += " (default " + def + ")"
		}
		fmt.Fprintf(tw, "  --%s\t%s\n", strings.TrimSpace(f.Name+" "+value), meaning)
	})
	fmt.Fprintln(tw, "  -h, --help\tshow this help")
	tw.Flush()
}

// flagValue names a flag's value as the README writes it (none for a
// switch) and returns its meaning.
func flagValue(f *flag.Flag) (value, meaning string) {
	name, meaning := flag.UnquoteUsage(f)
	if n, ok := f.Value.(interface{ valueName() string }); ok {
		return n.valueName(), meaning
	}
	switch name {
	case "":
		return "", meaning
	case "string", "value":
		return "VALUE", meaning
	case "int", "uint", "float":
		return "N", meaning
	case "duration":
		return "DURATION", meaning
	default:
		return strings.ToUpper(name), meaning
	}
}

// flagExit turns a flag parsing error into an exit code: help is success,
// anything else a usage error (already reported).
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// usageError reports a usage error of the command fs parses and returns
// the exit code for it.
func usageError(fs *flag.FlagSet, e env, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "latchkey %s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fmt.Fprintf(e.stderr, "Run \"latchkey %s --help\" for usage.\n", fs.Name())
	return exitUsage
}

// noArguments parses a command that takes flags only. It returns -1 to go
// on, or the exit code to stop with.
func noArguments(fs *flag.FlagSet, args []string, e env) int {
	positional, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(positional) > 0 {
		return usageError(fs, e, "unexpected argument %q", positional[0])
	}
	return -1
}

// wantsHelp reports whether args ask for help, before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}
