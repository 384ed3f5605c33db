package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/apps"
)

// The demo app that `latchkey dev` creates on its first run.
const (
	demoAppName     = "Demo app"
	demoRedirectURI = "http://localhost:8080/complete"
)

// showDemoApp prints the demo app's credentials, creating the app on the
// first run. Only dev mode keeps a client secret on disk: in a 0600 file
// beside the database, so that every run can show it again.
func showDemoApp(ctx context.Context, sys *system, e env) error {
	path := demoFile(sys)
	creds, err := demoCredentials(ctx, sys, path)
	if err != nil {
		return err
	}
	base := sys.cfg.PublicURL
	fmt.Fprintf(e.stdout, `
Latchkey dev server: %s
  Dev inbox:   %s/dev/inbox
  Demo app %q (redirect URI %s)
    app_id:        %s
    client_id:     %s
    client_secret: %s
  Get a client token:
    curl -s %s/oidc/token -d grant_type=client_credentials -d client_id=%s -d client_secret=%s

`, base, base, demoAppName, demoRedirectURI, creds.AppID, creds.ClientID, creds.ClientSecret,
		base, creds.ClientID, creds.ClientSecret)
	return nil
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
func demoCredentials(ctx context.Context, sys *system, path string) (apps.Credentials, error) {
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
		_, creds, err = sys.apps.Create(ctx, apps.NewApp{Name: demoAppName, RedirectURIs: []string{demoRedirectURI}})
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
