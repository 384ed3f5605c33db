package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/token"
)

const keysUsage = `Usage: latchkey keys <command>

Commands:
  list [--json]      show the signing keys and their states
  rotate [--json] [--force]
                     promote the published next key to sign, retire the current key
                     (kept in the JWKS until every token it signed has expired)
                     and publish a new next key of LATCHKEY_SIGNING_ALG. Refused
                     until the next key has been published for the JWKS cache
                     lifetime (5m) plus LATCHKEY_KEY_REFRESH; --force rotates
                     anyway. A changed LATCHKEY_SIGNING_ALG first publishes a
                     next key of the new algorithm, which then waits the same.
`

// keysCommands are the keys subcommands.
var keysCommands = map[string]subcommand{
	"list":   withSystemFor(keysList),
	"rotate": withSystemFor(keysRotate),
}

// cmdKeys runs a keys subcommand.
func cmdKeys(ctx context.Context, args []string, e env) int {
	return runGroup(ctx, "keys", keysUsage, keysCommands, args, e)
}

// keyView is a key as the CLI shows it.
type keyView struct {
	KID          string     `json:"kid"`
	Algorithm    string     `json:"alg"`
	State        string     `json:"state"`
	CreatedAt    time.Time  `json:"created_at"`
	ActivatedAt  *time.Time `json:"activated_at,omitempty"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	PublishUntil *time.Time `json:"published_until,omitempty"`
}

func viewOfKey(k latchkey.SigningKey) keyView {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return keyView{KID: k.ID, Algorithm: k.Algorithm, State: string(k.State), CreatedAt: k.CreatedAt,
		ActivatedAt: opt(k.ActivatedAt), RetiredAt: opt(k.RetiredAt), PublishUntil: opt(k.PublishUntil)}
}

func keysList(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("keys list", "keys list [--json]", e)
	asJSON := fs.Bool("json", false, "print JSON")
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	keys, err := sys.keys.List(ctx)
	if err != nil {
		return fail(e, err)
	}
	views := make([]keyView, len(keys))
	for i, k := range keys {
		views[i] = viewOfKey(k)
	}
	if *asJSON {
		return printJSON(e.stdout, views)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tPUBLISHED UNTIL")
	for _, v := range views {
		until := "-"
		if v.PublishUntil != nil {
			until = v.PublishUntil.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.KID, v.Algorithm, v.State, v.CreatedAt.Format(time.RFC3339), until)
	}
	tw.Flush()
	return exitOK
}

func keysRotate(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("keys rotate", "keys rotate [--json] [--force]", e)
	asJSON := fs.Bool("json", false, "print JSON")
	force := fs.Bool("force", false, "promote the next key even if it has been published for less than the JWKS cache lifetime plus LATCHKEY_KEY_REFRESH")
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	r, err := sys.keys.Rotate(ctx, token.RotateOptions{Force: *force})
	var early *token.EarlyRotationError
	if errors.As(err, &early) {
		fmt.Fprintf(e.stderr, "latchkey: refusing to rotate: %s.\nRun `latchkey keys rotate --force` to rotate now anyway.\n", early)
		return exitError
	}
	if err != nil {
		return fail(e, err)
	}
	if r.Early() {
		fmt.Fprintf(e.stderr, "Warning: --force promoted %s after %s of publication, less than %s: relying parties that cached the JWKS before it was published reject the tokens it signs until their copy expires, at the latest at %s.\n",
			r.Promoted.ID, r.PublishedFor.Round(time.Second), r.MinPublication, r.FullyPublishedAt().UTC().Format(time.RFC3339))
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]keyView{
			"current": viewOfKey(r.Promoted), "retired": viewOfKey(r.Retired), "next": viewOfKey(r.Next)})
	}
	fmt.Fprintf(e.stdout, "Signing with %s (%s), published for %s before use.\n", r.Promoted.ID, r.Promoted.Algorithm, r.PublishedFor.Round(time.Second))
	fmt.Fprintf(e.stdout, "Retired %s: still published until %s.\n", r.Retired.ID, r.Retired.PublishUntil.Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "Published %s (%s) as the next key.\n", r.Next.ID, r.Next.Algorithm)
	fmt.Fprintf(e.stdout, "Every node picks up the change within LATCHKEY_KEY_REFRESH (%s).\n", sys.cfg.KeyRefresh)
	return exitOK
}
