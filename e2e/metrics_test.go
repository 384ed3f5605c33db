package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsURL returns where a node started with LATCHKEY_METRICS_ADDR
// serves its metrics, from the line it logs before it listens.
func (n *node) metricsURL(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(n.logs.String(), "\n") {
		var entry struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "metrics listening" {
			return "http://" + entry.Addr + "/metrics"
		}
	}
	t.Fatalf("the node logged no metrics address:\n%s", n.logs.String())
	return ""
}

// exposition is one scrape: every metric family, and every sample by
// its name and labels, as `name{k="v",...}` with the labels sorted (a
// histogram's as name_count and name_sum).
type exposition struct {
	families map[string]*dto.MetricFamily
	samples  map[string]float64
}

func scrape(t *testing.T, url string) exposition {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	e := exposition{families: families, samples: map[string]float64{}}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			labels := sampleLabels(m)
			switch {
			case m.Counter != nil:
				e.samples[name+labels] = m.Counter.GetValue()
			case m.Gauge != nil:
				e.samples[name+labels] = m.Gauge.GetValue()
			case m.Histogram != nil:
				e.samples[name+"_count"+labels] = float64(m.Histogram.GetSampleCount())
				e.samples[name+"_sum"+labels] = m.Histogram.GetSampleSum()
			}
		}
	}
	return e
}

func sampleLabels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// moved returns the samples of the named families whose value differs
// from before's (a sample before lacked counts as 0).
func (e exposition) moved(before exposition, families ...string) map[string]float64 {
	out := map[string]float64{}
	for key, v := range e.samples {
		for _, f := range families {
			if strings.HasPrefix(key, f+"{") {
				if d := v - before.samples[key]; d != 0 {
					out[key] = d
				}
			}
		}
	}
	return out
}

// loginFamilies are the metrics of sends, logins, deliveries and
// refusals.
var loginFamilies = []string{"latchkey_otp_sends_total", "latchkey_link_sends_total", "latchkey_logins_total",
	"latchkey_messages_total", "latchkey_message_delivery_seconds_count", "latchkey_message_retries_total",
	"latchkey_rate_limited_total"}

// metricsNode starts a node of c that serves metrics, with one app and a
// client of its API, and returns them with the app's ID.
func metricsNode(t *testing.T, c *cluster) (*node, *client, string) {
	cr := c.createApp(c.dbURL)
	n := c.startWith(c.dbURL, "LATCHKEY_METRICS_ADDR=127.0.0.1:0")
	cl := newClient(t)
	cl.token = cl.clientToken(n.url, cr)
	return n, cl, cr.AppID
}

// TestMetricsCountOneLoginAndOneFailedAttempt scrapes a real server
// before and after one passcode login with one wrong code on the way:
// the counters of sends, logins, deliveries and requests moved by exactly
// that, and no other counter of logins moved. The database's pools are
// reported, on SQLite and on PostgreSQL.
func TestMetricsCountOneLoginAndOneFailedAttempt(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { countsOneLogin(t, newSQLiteCluster(t), "write", "read") })
	t.Run("postgres", func(t *testing.T) { countsOneLogin(t, newCluster(t), "postgres") })
}

func countsOneLogin(t *testing.T, c *cluster, pools ...string) {
	n, cl, app := metricsNode(t, c)
	metrics := n.metricsURL(t)
	cl.must(cl.post(n.url+"/cis/v1/users", map[string]any{"email": "metrics@example.com"}), http.StatusCreated)
	before := scrape(t, metrics)

	send := map[string]any{"channel": "email", "identifier": "metrics@example.com", "identifier_type": "email"}
	cl.must(cl.post(n.url+"/cis/v1/auth/otp/send", send), http.StatusOK)
	code := waitForCode(t, cl, n.url, "metrics@example.com")
	auth := func(passcode string) reply {
		return cl.post(n.url+"/cis/v1/auth/otp/authenticate",
			map[string]any{"passcode": passcode, "identifier": "metrics@example.com", "identifier_type": "email"})
	}
	cl.must(auth(wrongPasscode(code)), http.StatusBadRequest)
	cl.must(auth(code), http.StatusOK)

	sent := `latchkey_messages_total{channel="email",provider="devinbox",status="sent"}`
	requests := map[string]float64{
		`latchkey_http_requests_total{method="POST",route="/cis/v1/auth/otp/send",status="200"}`:         1,
		`latchkey_http_requests_total{method="POST",route="/cis/v1/auth/otp/authenticate",status="400"}`: 1,
		`latchkey_http_requests_total{method="POST",route="/cis/v1/auth/otp/authenticate",status="200"}`: 1,
	}
	// A delivery is recorded after the dev inbox shows it, and a request
	// is counted once its answer is written: wait for both.
	var after exposition
	eventually(t, "the delivery and the requests to be counted", func() bool {
		after = scrape(t, metrics)
		for series, d := range requests {
			if after.samples[series]-before.samples[series] < d {
				return false
			}
		}
		return after.samples[sent] > before.samples[sent]
	})
	want := map[string]float64{
		fmt.Sprintf(`latchkey_otp_sends_total{app=%q,channel="email",outcome="success"}`, app):           1,
		fmt.Sprintf(`latchkey_logins_total{app=%q,channel="email",method="otp",outcome="invalid"}`, app): 1,
		fmt.Sprintf(`latchkey_logins_total{app=%q,channel="email",method="otp",outcome="success"}`, app): 1,
		sent: 1,
		`latchkey_message_delivery_seconds_count{channel="email",provider="devinbox"}`: 1,
	}
	if got := after.moved(before, loginFamilies...); !mapsEqual(got, want) {
		t.Errorf("the counters of logins moved by %v; want exactly %v", got, want)
	}
	for series, d := range requests {
		if got := after.samples[series] - before.samples[series]; got != d {
			t.Errorf("%s moved by %v; want %v", series, got, d)
		}
	}
	for _, pool := range pools {
		if max := after.samples[fmt.Sprintf(`latchkey_db_connections_max{pool=%q}`, pool)]; max < 1 {
			t.Errorf("the %s pool reports at most %v connections; want its size", pool, max)
		}
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// wrongPasscode returns a passcode other than code.
func wrongPasscode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// everyFlow runs a login of every kind against a node, with a refusal and
// failures on the way, so that every metric of logins has a sample, and
// returns every secret the flows handled or were given: addresses, the
// user's ID, codes, links and tokens.
func everyFlow(t *testing.T, n *node, cl *client) []string {
	t.Helper()
	const email, phone = "secret-ada@example.com", "+14155550199"
	user := cl.must(cl.post(n.url+"/cis/v1/users", map[string]any{"email": email, "phone_number": phone}), http.StatusCreated)
	userID := user["result"].(map[string]any)["user_id"].(string)
	secrets := []string{email, phone, strings.TrimPrefix(phone, "+"), userID, cl.token}
	keep := func(tokens map[string]any) {
		for _, k := range []string{"access_token", "id_token", "refresh_token", "session_id"} {
			secrets = append(secrets, tokens[k].(string))
		}
	}
	otp := func(channel, to string) {
		cl.must(cl.post(n.url+"/cis/v1/auth/otp/send", map[string]any{"channel": channel, "identifier": userID, "identifier_type": "user_id"}), http.StatusOK)
		code := waitForCode(t, cl, n.url, to)
		secrets = append(secrets, code)
		auth := func(passcode string) reply {
			return cl.post(n.url+"/cis/v1/auth/otp/authenticate", map[string]any{"passcode": passcode, "identifier": userID, "identifier_type": "user_id"})
		}
		cl.must(auth(wrongPasscode(code)), http.StatusBadRequest)
		keep(cl.must(auth(code), http.StatusOK))
	}
	otp("email", email)
	cl.must(cl.post(n.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": email, "identifier_type": "email"}), http.StatusTooManyRequests)
	otp("sms", phone)
	direct := cl.must(cl.post(n.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "direct", "identifier": email, "identifier_type": "email"}), http.StatusOK)
	secrets = append(secrets, direct["code"].(string))
	keep(cl.must(cl.post(n.url+"/cis/v1/auth/otp/authenticate", map[string]any{"passcode": direct["code"], "identifier": email, "identifier_type": "email"}), http.StatusOK))

	// Links go to a second user: the first one's sends wait out their
	// cooldown.
	const other = "secret-grace@example.com"
	second := cl.must(cl.post(n.url+"/cis/v1/users", map[string]any{"email": other}), http.StatusCreated)
	secrets = append(secrets, other, second["result"].(map[string]any)["user_id"].(string))
	linkSend := func(channel string) map[string]any {
		return cl.must(cl.post(n.url+"/cis/v1/auth/link/email/send", map[string]any{"email": other, "channel": channel,
			"redirect_uri": "http://localhost:8080/complete"}), http.StatusOK)
	}
	linkSend("email")
	link := linkSend("direct")
	secrets = append(secrets, link["code"].(string), link["link"].(string))
	cl.must(cl.post(n.url+"/cis/v1/auth/link/email/authenticate", map[string]any{"code": "no-such-link"}), http.StatusBadRequest)
	keep(cl.must(cl.post(n.url+"/cis/v1/auth/link/email/authenticate", map[string]any{"code": link["code"]}), http.StatusOK))

	cl.must(cl.do(http.MethodGet, n.url+"/cis/v1/users/email/"+email, nil, nil), http.StatusOK)
	cl.must(cl.do(http.MethodGet, n.url+"/no/such/route/"+email, nil, nil), http.StatusNotFound)
	return secrets
}

// TestMetricLabelsHoldNoSecrets scrapes a server after logins of every
// kind: no label value holds an address, a number, the user's ID, a code,
// a link or a token the flows handled.
func TestMetricLabelsHoldNoSecrets(t *testing.T) {
	n, cl, _ := metricsNode(t, newSQLiteCluster(t))
	secrets := everyFlow(t, n, cl)
	e := scrape(t, n.metricsURL(t))
	if len(e.moved(exposition{}, "latchkey_logins_total")) < 4 {
		t.Fatalf("the flows left too few samples to judge: %v", e.moved(exposition{}, "latchkey_logins_total"))
	}
	for series := range e.samples {
		for _, secret := range secrets {
			if strings.Contains(series, secret) {
				t.Errorf("the series %s holds %q, which the flows handled", series, secret)
			}
		}
		if strings.Contains(series, "@") {
			t.Errorf("the series %s holds an address", series)
		}
	}
}
