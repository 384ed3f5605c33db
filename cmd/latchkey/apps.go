package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/apps"
	"github.com/latchkeyhq/latchkey/secrets"
)

const appsUsage = `Usage: latchkey apps <command>

Commands:
  create --name NAME [--redirect-uri URI]... [--resource URI]... [--management] [--json]
  list [--json]
  show APP [--json]
  update APP [flags]             change any editable field; see "latchkey apps update --help"
  rotate-secret APP [--json]     issue a new client secret; the old one and its tokens stop working
  unlock APP USER                end USER's passcode lockout and its count of failures
  delete APP

APP is an app ID or a client ID; USER a user ID, email address or E.164 phone number.
`

// appsCommands are the apps subcommands.
var appsCommands = map[string]subcommand{
	"create":        withSystemFor(appsCreate),
	"list":          withSystemFor(appsList),
	"show":          withSystemFor(appsShow),
	"update":        withSystemFor(appsUpdate),
	"rotate-secret": withSystemFor(appsRotateSecret),
	"unlock":        withSystemFor(appsUnlock),
	"delete":        withSystemFor(appsDelete),
}

// cmdApps runs an apps subcommand against the configured database.
func cmdApps(ctx context.Context, args []string, e env) int {
	return runGroup(ctx, "apps", appsUsage, appsCommands, args, e)
}

func appsCreate(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("apps create", "apps create --name NAME [--redirect-uri URI]... [--resource URI]... [--management] [--json]", e)
	name := fs.String("name", "", "the app's `NAME`, shown in emails and SMS")
	var redirects, resources listFlag
	fs.Var(&redirects, "redirect-uri", "an allowed magic-link redirect `URI` (repeatable; matched exactly)")
	fs.Var(&resources, "resource", "a resource `URI` tokens may be issued for (repeatable)")
	management := fs.Bool("management", false, "allow this app's tokens to call management endpoints")
	asJSON := fs.Bool("json", false, `print {"app_id","client_id","client_secret"} as JSON`)
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	app, creds, err := sys.apps.Create(ctx, apps.NewApp{Name: *name, RedirectURIs: redirects, Resources: resources, Management: *management})
	if err != nil {
		return fail(e, err)
	}
	if *asJSON {
		return printJSON(e.stdout, creds)
	}
	fmt.Fprintf(e.stdout, "Created app %q.\n\n", app.Name)
	printCredentials(e.stdout, creds)
	return exitOK
}

// printCredentials shows credentials, with the warning that the secret is
// not shown again.
func printCredentials(w io.Writer, c apps.Credentials) {
	fmt.Fprintf(w, "  app_id:        %s\n  client_id:     %s\n  client_secret: %s\n\n", c.AppID, c.ClientID, c.ClientSecret)
	fmt.Fprintln(w, "Store the client secret now: Latchkey keeps only a hash of it and cannot show it again.")
}

func appsList(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("apps list", "apps list [--json]", e)
	asJSON := fs.Bool("json", false, "print JSON")
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	list, err := sys.apps.List(ctx)
	if err != nil {
		return fail(e, err)
	}
	if *asJSON {
		views := make([]appView, len(list))
		for i, a := range list {
			views[i] = viewOf(a)
		}
		return printJSON(e.stdout, views)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "APP ID\tCLIENT ID\tNAME\tMANAGEMENT\tCREATED")
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", a.ID, a.ClientID, a.Name, a.Management, a.CreatedAt.Format(time.RFC3339))
	}
	tw.Flush()
	return exitOK
}

func appsShow(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("apps show", "apps show APP [--json]", e)
	asJSON := fs.Bool("json", false, "print JSON")
	ref, code := oneAppArg(fs, args, e)
	if code >= 0 {
		return code
	}
	app, err := sys.apps.Find(ctx, ref)
	if err != nil {
		return fail(e, err)
	}
	return printApp(e.stdout, app, *asJSON)
}

// oneAppArg parses flags and the single APP argument; code is -1 on success.
func oneAppArg(fs *flag.FlagSet, args []string, e env) (string, int) {
	positional, err := parseFlags(fs, args)
	if err != nil {
		return "", flagExit(err)
	}
	if len(positional) != 1 {
		return "", usageError(fs, e, "want exactly one APP (an app ID or client ID)")
	}
	return positional[0], -1
}

// appChanges collects the edits that update flags ask for, in order.
type appChanges []func(*latchkey.App)

func (c *appChanges) stringFlag(fs *flag.FlagSet, name, usage string, set func(*latchkey.App, string)) {
	fs.Var(namedFunc{"VALUE", func(v string) error {
		*c = append(*c, func(a *latchkey.App) { set(a, v) })
		return nil
	}}, name, usage)
}

func (c *appChanges) intFlag(fs *flag.FlagSet, name, usage string, set func(*latchkey.App, int)) {
	fs.Var(namedFunc{"N", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("want a whole number")
		}
		*c = append(*c, func(a *latchkey.App) { set(a, n) })
		return nil
	}}, name, usage)
}

func (c *appChanges) durationFlag(fs *flag.FlagSet, name, usage string, set func(*latchkey.App, time.Duration)) {
	fs.Var(namedFunc{"DURATION", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("want a duration such as 90s, 5m or 2h")
		}
		*c = append(*c, func(a *latchkey.App) { set(a, d) })
		return nil
	}}, name, usage)
}

func (c *appChanges) boolFlag(fs *flag.FlagSet, name, usage string, set func(*latchkey.App, bool)) {
	fs.BoolFunc(name, usage+" (--"+name+" or --"+name+"=false)", func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*c = append(*c, func(a *latchkey.App) { set(a, b) })
		return nil
	})
}

func (c *appChanges) listFlags(fs *flag.FlagSet, name, what string, list func(*latchkey.App) *[]string) {
	replaced := false
	fs.Var(namedFunc{"URI", func(v string) error {
		*c = append(*c, func(a *latchkey.App) {
			if !replaced {
				*list(a), replaced = nil, true
			}
			*list(a) = append(*list(a), v)
		})
		return nil
	}}, name, "replace the "+what+"s with these (repeatable)")
	fs.Var(namedFunc{"URI", func(v string) error {
		*c = append(*c, func(a *latchkey.App) { *list(a) = append(*list(a), v) })
		return nil
	}}, "add-"+name, "add a "+what+" (repeatable)")
	fs.Var(namedFunc{"URI", func(v string) error {
		*c = append(*c, func(a *latchkey.App) {
			*list(a) = slices.DeleteFunc(*list(a), func(s string) bool { return s == v })
		})
		return nil
	}}, "remove-"+name, "remove a "+what+" (repeatable)")
	fs.BoolFunc("clear-"+name+"s", "remove every "+what, func(string) error {
		*c = append(*c, func(a *latchkey.App) { *list(a) = nil })
		return nil
	})
}

const updateUsage = `apps update APP [flags]

Changes only what the flags name. New apps start with: otp-length 6, otp-expiry 5m,
max-failures 3, lockout-duration 15m, magic-link-expiry 15m, access-token-ttl 1h,
id-token-ttl 1h, refresh-token-ttl 336h (14 days), session-ttl 336h; and the limits
resend-cooldown 30s, sends-per-hour 10, sends-per-day 30, sms-countries all,
sms-daily-budget 0 (unlimited), sms-prefix-per-hour 20, max-failures-per-minute 1000,
ip-sends-per-hour 1000, ip-failures-per-hour 500. A limit of 0 is off.`

func appsUpdate(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("apps update", updateUsage, e)
	var c appChanges
	c.stringFlag(fs, "name", "new name", func(a *latchkey.App, v string) { a.Name = v })
	c.listFlags(fs, "redirect-uri", "redirect URI", func(a *latchkey.App) *[]string { return &a.RedirectURIs })
	c.listFlags(fs, "resource", "resource", func(a *latchkey.App) *[]string { return &a.Resources })
	c.stringFlag(fs, "sender-name", "the display name of the app's emails (empty for the app's name)",
		func(a *latchkey.App, v string) { a.Branding.SenderName = v })
	c.stringFlag(fs, "logo-url", "an https image URL shown at the top of the app's emails (empty for none)",
		func(a *latchkey.App, v string) { a.Branding.LogoURL = v })
	c.stringFlag(fs, "primary-color", "the accent colour of the app's emails, such as #4F46E5 (empty for the default)",
		func(a *latchkey.App, v string) { a.Branding.PrimaryColor = v })
	c.boolFlag(fs, "management", "allow the app's tokens to call management endpoints", func(a *latchkey.App, b bool) { a.Management = b })
	c.intFlag(fs, "otp-length", "digits in a one-time passcode (4 to 8)", func(a *latchkey.App, n int) { a.Policy.OTPLength = n })
	c.durationFlag(fs, "otp-expiry", "how long a passcode is valid", func(a *latchkey.App, d time.Duration) { a.Policy.OTPExpiry = d })
	c.intFlag(fs, "max-failures", "failed attempts before lockout (1 to 20)", func(a *latchkey.App, n int) { a.Policy.MaxFailures = n })
	c.durationFlag(fs, "lockout-duration", "how long a lockout lasts", func(a *latchkey.App, d time.Duration) { a.Policy.LockoutDuration = d })
	c.durationFlag(fs, "magic-link-expiry", "how long a magic link is valid", func(a *latchkey.App, d time.Duration) { a.Policy.MagicLinkExpiry = d })
	c.durationFlag(fs, "access-token-ttl", "user access token lifetime (up to 24h)", func(a *latchkey.App, d time.Duration) { a.Policy.AccessTokenTTL = d })
	c.durationFlag(fs, "id-token-ttl", "ID token lifetime (up to 24h)", func(a *latchkey.App, d time.Duration) { a.Policy.IDTokenTTL = d })
	c.durationFlag(fs, "refresh-token-ttl", "refresh token lifetime", func(a *latchkey.App, d time.Duration) { a.Policy.RefreshTokenTTL = d })
	c.durationFlag(fs, "session-ttl", "session lifetime", func(a *latchkey.App, d time.Duration) { a.Policy.SessionTTL = d })
	c.boolFlag(fs, "hide-unknown-users", "answer sends for unknown identifiers as for real users, sending nothing", func(a *latchkey.App, b bool) { a.Policy.HideUnknownUsers = b })
	c.boolFlag(fs, "public-signup", "create unknown users on their first send", func(a *latchkey.App, b bool) { a.Policy.PublicSignup = b })
	c.limitFlags(fs, keyringOf(sys))
	asJSON := fs.Bool("json", false, "print the updated app as JSON")
	ref, code := oneAppArg(fs, args, e)
	if code >= 0 {
		return code
	}
	if len(c) == 0 {
		return usageError(fs, e, "nothing to change")
	}
	app, err := sys.apps.Update(ctx, ref, func(a *latchkey.App) {
		for _, change := range c {
			change(a)
		}
	})
	if latchkey.ErrorCode(err) == latchkey.CodeInvalid {
		fmt.Fprintln(e.stderr, "latchkey:", flagMessage(fs, latchkey.ErrorMessage(err)))
		return exitError
	}
	if err != nil {
		return fail(e, err)
	}
	return printApp(e.stdout, app, *asJSON)
}

func appsRotateSecret(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("apps rotate-secret", "apps rotate-secret APP [--json]", e)
	asJSON := fs.Bool("json", false, `print {"app_id","client_id","client_secret"} as JSON`)
	ref, code := oneAppArg(fs, args, e)
	if code >= 0 {
		return code
	}
	_, creds, err := sys.apps.RotateSecret(ctx, ref)
	if err != nil {
		return fail(e, err)
	}
	if *asJSON {
		return printJSON(e.stdout, creds)
	}
	fmt.Fprintln(e.stdout, "New client secret issued; the old secret and every token obtained with it no longer work.")
	fmt.Fprintln(e.stdout)
	printCredentials(e.stdout, creds)
	return exitOK
}

func appsDelete(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("apps delete", "apps delete APP", e)
	ref, code := oneAppArg(fs, args, e)
	if code >= 0 {
		return code
	}
	app, err := sys.apps.Delete(ctx, ref)
	if err != nil {
		return fail(e, err)
	}
	fmt.Fprintf(e.stdout, "Deleted app %q (%s). Its users remain in the tenant.\n", app.Name, app.ID)
	return exitOK
}

// appView is an app as the CLI shows it: everything but the secret hash.
type appView struct {
	AppID        string     `json:"app_id"`
	Name         string     `json:"name"`
	ClientID     string     `json:"client_id"`
	RedirectURIs []string   `json:"redirect_uris"`
	Resources    []string   `json:"resources"`
	Management   bool       `json:"management"`
	Policy       policyView `json:"policy"`
	Limits       limitsView `json:"limits"`
	SenderName   string     `json:"sender_name"`
	LogoURL      string     `json:"logo_url"`
	PrimaryColor string     `json:"primary_color"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

type policyView struct {
	OTPLength        int    `json:"otp_length"`
	OTPExpiry        string `json:"otp_expiry"`
	MaxFailures      int    `json:"max_failures"`
	LockoutDuration  string `json:"lockout_duration"`
	MagicLinkExpiry  string `json:"magic_link_expiry"`
	AccessTokenTTL   string `json:"access_token_ttl"`
	IDTokenTTL       string `json:"id_token_ttl"`
	RefreshTokenTTL  string `json:"refresh_token_ttl"`
	SessionTTL       string `json:"session_ttl"`
	HideUnknownUsers bool   `json:"hide_unknown_users"`
	PublicSignup     bool   `json:"public_signup"`
}

func viewOf(a latchkey.App) appView {
	p := a.Policy
	return appView{AppID: a.ID, Name: a.Name, ClientID: a.ClientID, RedirectURIs: a.RedirectURIs, Resources: a.Resources,
		Management: a.Management, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, Limits: limitsViewOf(a.Limits),
		SenderName: a.Branding.SenderName, LogoURL: a.Branding.LogoURL, PrimaryColor: a.Branding.PrimaryColor,
		Policy: policyView{OTPLength: p.OTPLength, OTPExpiry: p.OTPExpiry.String(), MaxFailures: p.MaxFailures,
			LockoutDuration: p.LockoutDuration.String(), MagicLinkExpiry: p.MagicLinkExpiry.String(),
			AccessTokenTTL: p.AccessTokenTTL.String(), IDTokenTTL: p.IDTokenTTL.String(),
			RefreshTokenTTL: p.RefreshTokenTTL.String(), SessionTTL: p.SessionTTL.String(),
			HideUnknownUsers: p.HideUnknownUsers, PublicSignup: p.PublicSignup}}
}

func printApp(w io.Writer, a latchkey.App, asJSON bool) int {
	v := viewOf(a)
	if asJSON {
		return printJSON(w, v)
	}
	p := v.Policy
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	rows := [][2]string{
		{"app_id", v.AppID}, {"name", v.Name}, {"client_id", v.ClientID},
		{"redirect_uris", strings.Join(v.RedirectURIs, " ")}, {"resources", strings.Join(v.Resources, " ")},
		{"management", fmt.Sprint(v.Management)},
		{"otp_length", fmt.Sprint(p.OTPLength)}, {"otp_expiry", p.OTPExpiry}, {"max_failures", fmt.Sprint(p.MaxFailures)},
		{"lockout_duration", p.LockoutDuration}, {"magic_link_expiry", p.MagicLinkExpiry},
		{"access_token_ttl", p.AccessTokenTTL}, {"id_token_ttl", p.IDTokenTTL},
		{"refresh_token_ttl", p.RefreshTokenTTL}, {"session_ttl", p.SessionTTL},
		{"hide_unknown_users", fmt.Sprint(p.HideUnknownUsers)}, {"public_signup", fmt.Sprint(p.PublicSignup)},
	}
	rows = append(rows, v.Limits.rows()...)
	rows = append(rows, [][2]string{
		{"sender_name", v.SenderName}, {"logo_url", v.LogoURL}, {"primary_color", v.PrimaryColor},
		{"created_at", v.CreatedAt.Format(time.RFC3339)}, {"updated_at", v.UpdatedAt.Format(time.RFC3339)},
	}...)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	tw.Flush()
	return exitOK
}

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitError
	}
	return exitOK
}

// fail prints a command's error: the caller-safe message for a Latchkey
// error, the whole error otherwise.
func fail(e env, err error) int {
	msg := err.Error()
	if code := latchkey.ErrorCode(err); code != latchkey.CodeInternal {
		msg = latchkey.ErrorMessage(err)
	}
	fmt.Fprintln(e.stderr, "latchkey:", msg)
	return exitError
}

// keyringOf is the keyring of sys, or nil when no system was opened
// because only help is asked for.
func keyringOf(sys *system) *secrets.Keyring {
	if sys == nil {
		return nil
	}
	return sys.keyring
}
