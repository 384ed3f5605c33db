package latchkey_test

import (
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/latchkeyhq/latchkey"

// allowedImports is the architecture: which project packages each package
// may import. Business rules never import an adapter; adapters never import
// each other or the HTTP layer; only cmd/latchkey wires everything.
var allowedImports = map[string][]string{
	"":                                {},
	"secrets":                         {},
	"config":                          {},
	"fake":                            {},
	"e2e":                             {"internal/smtptest"},
	"internal/smtptest":               {},
	"internal/mannwhitney":            {},
	"storetest":                       {""},
	"storehook":                       {""},
	"sqlite":                          {"", "secrets"},
	"postgres":                        {"", "secrets"},
	"smtpmail":                        {"", "delivery"},
	"sendgrid":                        {"", "delivery", "internal/providerhttp"},
	"twilio":                          {"", "delivery", "internal/providerhttp"},
	"webhook":                         {"", "delivery", "internal/providerhttp"},
	"internal/providerhttp":           {},
	"internal/providerhttp/reusetest": {"", "delivery"},
	"token":                           {"", "secrets"},
	"apps":                            {"", "delivery", "secrets", "users"}, // what an email may show is delivery's rule; a phone country users'
	"ratelimit":                       {"", "delivery", "secrets", "users"},
	"users":                           {"", "secrets"},
	"delivery":                        {"", "secrets"},
	"sessions":                        {"", "secrets", "token"},
	"login":                           {"", "delivery", "secrets", "sessions", "users"},
	"oauth2":                          {"", "apps", "secrets", "sessions", "token"},
	"httpapi":                         {"", "apps", "delivery", "internal/httpobs", "login", "oauth2", "secrets", "sessions", "token", "users"},
	"bench":                           {"", "token"},
	"metrics":                         {"", "internal/httpobs", "login"},
	"tracing":                         {"", "delivery", "internal/httpobs"},
	"internal/httpobs":                {},
	"cmd/latchkey":                    nil, // anything
}

func TestImportDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		allowed, known := allowedImports[pkg]
		if !known {
			t.Errorf("package %q has no entry in allowedImports; decide what it may import", pkg)
			continue
		}
		if allowed == nil {
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				if pkg == "" && strings.Contains(strings.Split(imp, "/")[0], ".") {
					t.Errorf("the domain package imports %s; it must use only the standard library", imp)
				}
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			if !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s, which the architecture does not allow", fields[0], imp)
			}
		}
	}
}

// TestEveryPackageIsDocumented keeps a package comment on every package, so
// `go doc` explains each part of the tree.
func TestEveryPackageIsDocumented(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Doc}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, doc, _ := strings.Cut(line, "\t")
		if strings.TrimSpace(doc) == "" {
			t.Errorf("package %s has no package comment", path)
		}
	}
}

// TestNoWallClockOutsideCmd keeps time injectable: only cmd/ may read the
// real clock or sleep on it, so expiry and lockout are testable without
// sleeping. (Timers and tickers that pace background loops are allowed.)
func TestNoWallClockOutsideCmd(t *testing.T) {
	out, err := exec.Command("git", "grep", "--untracked", "-n", "-E", `time\.(Now|Since|Until|Sleep)\b`,
		"--", "*.go", ":!cmd/", ":!*_test.go").Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return // git grep exits 1 when nothing matches
	case errors.As(err, &exit) && exit.ExitCode() == 128:
		t.Skipf("not a git checkout, so the sources cannot be listed: %s", exit.Stderr)
	case err != nil:
		t.Fatalf("git grep: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if code, _, _ := strings.Cut(line, "//"); wallClock.MatchString(code) {
			t.Errorf("the wall clock is read outside cmd/: %s", line)
		}
	}
}

var wallClock = regexp.MustCompile(`time\.(Now|Since|Until|Sleep)\b`)
