package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/latchkeyhq/latchkey/login"
)

// appsUnlock ends a user's passcode lockout in an app, with the count of
// failures behind it: the way back for a user of an app that offers no
// magic link once an attacker has spent the user's 100 consecutive
// failures.
func appsUnlock(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("apps unlock", "apps unlock APP USER\n\nEnds USER's passcode lockout in APP, with the count of failures behind it.\nAPP is an app ID or client ID; USER a user ID, email address or E.164 phone number.", e)
	positional, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(positional) != 2 {
		return usageError(fs, e, "want an APP (app ID or client ID) and a USER (user ID, email address or E.164 phone number)")
	}
	app, err := sys.apps.Find(ctx, positional[0])
	if err != nil {
		return fail(e, err)
	}
	user, err := sys.login.Unlock(ctx, app, userIdentifierType(positional[1]), positional[1])
	if err != nil {
		return fail(e, err)
	}
	fmt.Fprintf(e.stdout, "Unlocked the passcodes of user %s in app %q: failures and lockouts start afresh.\n", user.ID, app.Name)
	return exitOK
}

// userIdentifierType tells what kind of identifier an operator typed: an
// email address, an E.164 phone number, or else a user ID.
func userIdentifierType(s string) string {
	switch {
	case strings.Contains(s, "@"):
		return login.TypeEmail
	case strings.HasPrefix(strings.TrimSpace(s), "+"):
		return login.TypePhone
	default:
		return login.TypeUserID
	}
}
