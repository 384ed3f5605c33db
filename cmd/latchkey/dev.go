package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/apps"
	"github.com/latchkeyhq/latchkey/bench"
	"github.com/latchkeyhq/latchkey/httpapi"
)

// devStep tells a `latchkey dev` user what the server is doing while it
// starts, so that a first run that creates keys and the demo app never
// looks hung. Other commands stay quiet.
func devStep(e env, format string, args ...any) {
	if e.dev {
		fmt.Fprintf(e.stderr, "latchkey dev: "+format+"\n", args...)
	}
}

// The demo app that `latchkey dev` creates on its first run.
const demoAppName = "Demo app"

// sampleRedirectURI is where Mosaic's sample apps (and `latchkey bench`)
// take magic links: the demo app accepts it beside the dev page, so that
// they run against a dev server unchanged.
const sampleRedirectURI = bench.DefaultRedirectURI

// demoRedirectURI is where the demo app's magic links land: the dev page
// that shows the code and exchanges it.
func demoRedirectURI(sys *system) string { return sys.cfg.PublicURL + httpapi.DevCompletePath }

// showDemoApp makes sure the demo app exists and takes its magic links to
// the dev page, then prints what a newcomer needs: where the inbox is, and
// export lines to paste. Only dev mode keeps a client secret on disk: in a
// 0600 file beside the database, so that every run can show it again.
func showDemoApp(ctx context.Context, sys *system, e env) (apps.Credentials, error) {
	path := demoFile(sys)
	devStep(e, "checking the demo app (its credentials are kept in %s)", path)
	creds, err := demoCredentials(ctx, sys, e, path)
	if err != nil {
		return creds, err
	}
	landing := demoRedirectURI(sys)
	if err := apps.ValidateRedirectURI(landing); err != nil {
		// An http public URL on a host other than localhost: no app may
		// take links there, so the demo app's links keep to the sample URI.
		devStep(e, "magic links cannot land on the dev page: %v", latchkey.ErrorMessage(err))
		landing = sampleRedirectURI
	} else if err := ensureRedirectURI(ctx, sys, creds.AppID, landing); err != nil {
		return creds, err
	}
	base := sys.cfg.PublicURL
	fmt.Fprintf(e.stdout, `
Latchkey dev server: %s
  Dev inbox:  %s/dev/inbox  (every email and SMS lands here)
  Metrics:    %s
  Demo app %q: its magic links land on %s

Paste these lines into the terminal where you call the API:

export LATCHKEY_URL=%s
export LATCHKEY_CLIENT_ID=%s
export LATCHKEY_CLIENT_SECRET=%s

`, base, base, metricsURL(sys.tel.metricsAddr()), demoAppName, landings(landing), base, creds.ClientID, creds.ClientSecret)
	return creds, nil
}

// metricsURL is where Prometheus scrapes the dev server.
func metricsURL(addr string) string {
	if addr == "" {
		return "off (LATCHKEY_METRICS_ADDR)"
	}
	return "http://" + addr + "/metrics  (Prometheus)"
}

// landings names where the demo app's magic links may land.
func landings(landing string) string {
	if landing == sampleRedirectURI {
		return landing
	}
	return landing + " (or " + sampleRedirectURI + ")"
}

// ensureRedirectURI adds uri to the app's redirect URIs unless it is there.
func ensureRedirectURI(ctx context.Context, sys *system, appID, uri string) error {
	app, err := sys.apps.Find(ctx, appID)
	if err != nil || slices.Contains(app.RedirectURIs, uri) {
		return err
	}
	_, err = sys.apps.Update(ctx, appID, func(a *latchkey.App) { a.RedirectURIs = append(a.RedirectURIs, uri) })
	return err
}

func demoFile(sys *system) string {
	if sys.cfg.Database.Driver == "sqlite" {
		return sys.cfg.Database.Path + ".demo-app.json"
	}
	return "latchkey-dev.demo-app.json"
}

// demoCredentials returns the saved demo credentials if they still name an
// app, or makes new ones: the demo app is created when it does not exist and
// given a new secret when its saved credentials were lost.
func demoCredentials(ctx context.Context, sys *system, e env, path string) (apps.Credentials, error) {
	var creds apps.Credentials
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if json.Unmarshal(b, &creds) == nil {
			if app, err := sys.apps.Find(ctx, creds.AppID); err == nil && sys.apps.VerifySecret(app, creds.ClientSecret) {
				return creds, nil
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return creds, err
	}
	app, err := findByName(ctx, sys, demoAppName)
	switch {
	case err == nil:
		_, creds, err = sys.apps.RotateSecret(ctx, app.ID)
	case latchkey.ErrorCode(err) == latchkey.CodeNotFound:
		devStep(e, "creating the demo app")
		_, creds, err = sys.apps.Create(ctx, apps.NewApp{Name: demoAppName, RedirectURIs: []string{sampleRedirectURI}})
	}
	if err != nil {
		return creds, err
	}
	return creds, writeDemoFile(path, creds)
}

func findByName(ctx context.Context, sys *system, name string) (latchkey.App, error) {
	list, err := sys.apps.List(ctx)
	if err != nil {
		return latchkey.App{}, err
	}
	for _, a := range list {
		if a.Name == name {
			return a, nil
		}
	}
	return latchkey.App{}, latchkey.ErrNotFound
}

func writeDemoFile(path string, creds apps.Credentials) error {
	b, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save demo credentials: %w", err)
	}
	return os.Chmod(path, 0o600)
}
