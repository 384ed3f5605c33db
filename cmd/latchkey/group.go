package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// subcommand runs one subcommand of a command group.
type subcommand func(ctx context.Context, args []string, e env) int

// runGroup runs the subcommand args name in a command group: without one,
// the group's usage goes to stderr as a usage error; "help", -h and
// --help print it to stdout.
func runGroup(ctx context.Context, group, usage string, subs map[string]subcommand, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usage)
		return exitOK
	}
	sub, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "latchkey %s: unknown command %q\n\n%s", group, args[0], usage)
		return exitUsage
	}
	return sub(ctx, args[1:], e)
}

// withSystemFor adapts a subcommand that needs the system. The system is
// opened only when the arguments do not ask for help: each subcommand
// parses its flags, and so prints its help, before it uses the system.
func withSystemFor(cmd func(context.Context, *system, []string, env) int) subcommand {
	return func(ctx context.Context, args []string, e env) int {
		if wantsHelp(args) {
			return cmd(ctx, nil, args, e)
		}
		return withSystem(ctx, e, func(sys *system) int { return cmd(ctx, sys, args, e) })
	}
}

// withSystem opens the configured system for one CLI command.
func withSystem(ctx context.Context, e env, fn func(*system) int) int {
	cfg, ok := loadConfig(e, false)
	if !ok {
		return exitUsage
	}
	sys, err := open(ctx, cfg, e, newLogger(cfg, e.stderr), nil)
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey:", err)
		return exitError
	}
	defer sys.Close()
	return fn(sys)
}

// sortedNames lists a group's subcommands in order.
func sortedNames(subs map[string]subcommand) []string { return slices.Sorted(maps.Keys(subs)) }
