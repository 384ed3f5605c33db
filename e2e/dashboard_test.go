package e2e

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// dashboard is the Grafana dashboard shipped in ops/grafana.
const dashboard = "../ops/grafana/latchkey.json"

// dashboardQueries returns every PromQL query of the dashboard: its
// panels' (rows' panels included) and its variables'.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	queries := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("the panel %q has no query", p.Title)
			}
			for i, tg := range p.Targets {
				queries[p.Title+" #"+string(rune('A'+i))] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			queries["variable "+v.Name] = v.Definition
		}
	}
	return queries
}

var (
	// quoted matches PromQL's string literals (label values, regexes),
	// where no metric is named.
	quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	// metricName matches the names of Latchkey's, Go's and the process's
	// metrics; every other identifier in a query is a function, a
	// keyword or a label.
	metricName = regexp.MustCompile(`\b(?:latchkey|go|process|promhttp)_[a-zA-Z0-9_:]*`)
)

// TestDashboardQueriesNameExportedMetrics reads every query of the
// Grafana dashboard and checks that each metric it names is one a real
// server exports, scraped after logins of every kind (a histogram's
// _bucket, _sum and _count series included).
func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	queries := dashboardQueries(t)
	if len(queries) < 20 {
		t.Fatalf("the dashboard has %d queries; want its every panel", len(queries))
	}
	n, cl, _ := metricsNode(t, newSQLiteCluster(t))
	everyFlow(t, n, cl)
	var exported map[string]*dto.MetricFamily
	eventually(t, "the deliveries to be counted", func() bool {
		exported = scrape(t, n.metricsURL(t)).families
		return exported["latchkey_messages_total"] != nil && exported["latchkey_message_delivery_seconds"] != nil
	})
	for where, query := range queries {
		names := metricName.FindAllString(quoted.ReplaceAllString(query, `""`), -1)
		if len(names) == 0 {
			t.Errorf("%s names no metric: %s", where, query)
		}
		for _, name := range names {
			if !isExported(exported, name) {
				t.Errorf("%s names %s, which the server does not export: %s", where, name, query)
			}
		}
	}
}

// isExported reports whether name is an exported family or a series of
// one: a histogram's or summary's _bucket, _sum or _count.
func isExported(families map[string]*dto.MetricFamily, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		f, ok := families[strings.TrimSuffix(name, suffix)]
		if !ok || !strings.HasSuffix(name, suffix) {
			continue
		}
		if f.GetType() == dto.MetricType_HISTOGRAM || (f.GetType() == dto.MetricType_SUMMARY && suffix != "_bucket") {
			return true
		}
	}
	return false
}
