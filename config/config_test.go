package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/config"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7080" || c.Database.Driver != "sqlite" || c.Database.Path != "latchkey.db" ||
		c.PublicURL != "http://127.0.0.1:7080" || c.Issuer != "http://127.0.0.1:7080/cis/oidc" ||
		c.SigningAlg != "RS256" || c.Dev || c.Secret != nil || c.ClientTTL != time.Hour {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestExplicitValues(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{
		"LATCHKEY_ADDR": ":9000", "LATCHKEY_PUBLIC_URL": "https://login.example/", "LATCHKEY_SIGNING_ALG": "es256",
		"LATCHKEY_DEV": "on", "LATCHKEY_DATABASE_URL": "postgres://u:pw@db:5432/lk", "LATCHKEY_LOG_FORMAT": "json",
		"LATCHKEY_SECRET": strings.Repeat("x", 40), "LATCHKEY_PREVIOUS_SECRETS": strings.Repeat("y", 32) + "," + strings.Repeat("z", 32),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "https://login.example" || c.Issuer != "https://login.example/cis/oidc" || c.SigningAlg != "ES256" ||
		!c.Dev || c.Database.Driver != "postgres" || !c.LogJSON || len(c.Previous) != 2 {
		t.Fatalf("config = %+v", c)
	}
	c.Listening("127.0.0.1:1234")
	if c.PublicURL != "https://login.example" {
		t.Fatalf("Listening replaced an explicit public URL: %s", c.PublicURL)
	}
}

func TestListeningFillsDerivedURLs(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{"LATCHKEY_ADDR": "0.0.0.0:0"}))
	if err != nil {
		t.Fatal(err)
	}
	c.Listening("0.0.0.0:41234")
	if c.PublicURL != "http://localhost:41234" || c.Issuer != "http://localhost:41234/cis/oidc" {
		t.Fatalf("after Listening: %s %s", c.PublicURL, c.Issuer)
	}
}

func TestEveryProblemIsReportedOnItsOwnLine(t *testing.T) {
	_, err := config.Load(getenv(map[string]string{
		"LATCHKEY_SIGNING_ALG": "none", "LATCHKEY_KEY_REFRESH": "1ms", "LATCHKEY_SQLITE_SYNCHRONOUS": "OFF",
		"LATCHKEY_DATABASE_URL": "postgres://admin:hunter2@db:notaport/x",
	}))
	if err == nil {
		t.Fatal("Load accepted bad values")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, name := range []string{"LATCHKEY_SIGNING_ALG", "LATCHKEY_KEY_REFRESH", "LATCHKEY_SQLITE_SYNCHRONOUS", "LATCHKEY_DATABASE_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("problems %q do not name %s", err, name)
		}
	}
	if len(lines) < 4 {
		t.Errorf("problems on %d lines; want one per variable", len(lines))
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("a database password is echoed")
	}
}

func TestRecordRetention(t *testing.T) {
	c, err := config.Load(getenv(nil))
	if err != nil || c.Retention != time.Hour {
		t.Fatalf("default retention = %v, %v; want 1h", c.Retention, err)
	}
	c, err = config.Load(getenv(map[string]string{"LATCHKEY_RECORD_RETENTION": "5m"}))
	if err != nil || c.Retention != 5*time.Minute {
		t.Fatalf("retention = %v, %v; want 5m", c.Retention, err)
	}
	for _, bad := range []string{"10s", "721h", "soon"} {
		_, err := config.Load(getenv(map[string]string{"LATCHKEY_RECORD_RETENTION": bad}))
		if err == nil || !strings.Contains(err.Error(), "LATCHKEY_RECORD_RETENTION") {
			t.Errorf("retention %q: error %v; want one naming the variable", bad, err)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := config.Load(getenv(nil))
	if err != nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("default trusted proxies = %v, %v; want none", c.TrustedProxies, err)
	}
	c, err = config.Load(getenv(map[string]string{"LATCHKEY_TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::ffff:198.51.100.1"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.1/32"}
	if len(c.TrustedProxies) != len(want) {
		t.Fatalf("trusted proxies = %v; want %v", c.TrustedProxies, want)
	}
	for i, p := range c.TrustedProxies {
		if p.String() != want[i] {
			t.Errorf("trusted proxy %d = %s; want %s", i, p, want[i])
		}
	}
	_, err = config.Load(getenv(map[string]string{"LATCHKEY_TRUSTED_PROXIES": "10.0.0.0/8,lb.internal"}))
	if err == nil || !strings.Contains(err.Error(), `LATCHKEY_TRUSTED_PROXIES="lb.internal" is invalid`) {
		t.Fatalf("a host name in LATCHKEY_TRUSTED_PROXIES: %v; want it named as invalid", err)
	}
}
