package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// binary is the latchkey binary built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	if os.Getenv("LATCHKEY_TEST_POSTGRES_URL") == "" {
		fmt.Println("e2e: skipping multi-node tests: set LATCHKEY_TEST_POSTGRES_URL=postgres://... to run them")
	}
	dir, err := os.MkdirTemp("", "latchkey-e2e")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "latchkey")
	build := exec.Command("go", "build", "-o", binary, "../cmd/latchkey")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Println("e2e: build latchkey:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is a set of latchkey nodes sharing one PostgreSQL schema.
type cluster struct {
	t      *testing.T
	dbURL  string // the schema-scoped URL every node uses
	env    []string
	nodes  []*node
	secret string
}

// newSQLiteCluster is the environment of nodes that take turns on one
// SQLite file (one at a time: SQLite serves one node).
func newSQLiteCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dbURL: "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db"), secret: randomHex(24)}
	c.env = nodeEnv(t, c.secret)
	return c
}

// nodeEnv is the environment every node of a test shares.
func nodeEnv(t *testing.T, secret string) []string {
	return []string{
		"LATCHKEY_SECRET=" + secret,
		"LATCHKEY_PUBLIC_URL=http://latchkey.test",
		"LATCHKEY_DEV=true",
		"LATCHKEY_KEY_REFRESH=1s",
		"LATCHKEY_LOG_FORMAT=json",
		"LATCHKEY_ADDR=127.0.0.1:0",
		"LATCHKEY_DRAIN_DELAY=0s", // no load balancer to tell
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
	}
}

// newCluster makes a fresh schema for one test and the environment the
// nodes share. dbURL overrides the database URL (the fault test routes it
// through a proxy).
func newCluster(t *testing.T) *cluster {
	t.Helper()
	base := os.Getenv("LATCHKEY_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("multi-node tests skipped: set LATCHKEY_TEST_POSTGRES_URL=postgres://... to run them")
	}
	schema := "lk_e2e_" + randomHex(6)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(context.Background())
		}
	})
	c := &cluster{t: t, dbURL: withParam(base, "search_path", schema), secret: randomHex(24)}
	c.env = nodeEnv(t, c.secret)
	return c
}

func withParam(raw, key, value string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// command runs a latchkey CLI command against the cluster's database.
func (c *cluster) command(dbURL string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append([]string{}, c.env...), "LATCHKEY_DATABASE_URL="+dbURL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("latchkey %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// node is one running latchkey process.
type node struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
}

// start runs a node on dbURL and waits until it listens.
func (c *cluster) start(dbURL string) *node {
	c.t.Helper()
	return c.startWith(dbURL)
}

// startWith runs a node on dbURL with extra variables (NAME=value) and
// waits until it listens.
func (c *cluster) startWith(dbURL string, extra ...string) *node {
	c.t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(append(append([]string{}, c.env...), "LATCHKEY_DATABASE_URL="+dbURL), extra...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	n := &node{cmd: cmd, logs: &syncBuffer{}}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			n.logs.WriteString(line + "\n")
			var entry struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "latchkey listening" {
				addr <- entry.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		n.url = "http://" + a
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		c.t.Fatalf("node did not start:\n%s", n.logs.String())
	}
	c.nodes = append(c.nodes, n)
	c.t.Cleanup(func() { n.stop() })
	return n
}

// stop ends the node as an operator would (SIGTERM), then kills it if it
// lingers.
func (n *node) stop() {
	if n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		n.cmd.Process.Kill()
		<-done
	}
}

// kill ends the node at once, as a crash would.
func (n *node) kill() {
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// creds are an app's credentials, from `latchkey apps create --json`.
type creds struct {
	AppID        string `json:"app_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (c *cluster) createApp(dbURL string) creds {
	c.t.Helper()
	var cr creds
	out := c.command(dbURL, "apps", "create", "--name", "Cluster", "--redirect-uri", "http://localhost:8080/complete", "--json")
	if err := json.Unmarshal([]byte(out), &cr); err != nil {
		c.t.Fatalf("apps create: %v: %s", err, out)
	}
	return cr
}

// client calls one node's API.
type client struct {
	t     *testing.T
	http  *http.Client
	token string
}

func newClient(t *testing.T) *client {
	return &client{t: t, http: &http.Client{Timeout: 30 * time.Second}}
}

type reply struct {
	status int
	body   map[string]any
	raw    []byte
}

func (c *client) do(method, url string, body any, headers map[string]string) reply {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if c.token != "" && headers["Authorization"] == "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{status: 0, raw: []byte(err.Error())}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return reply{status: resp.StatusCode, body: m, raw: raw}
}

func (c *client) post(url string, body any) reply { return c.do(http.MethodPost, url, body, nil) }

func (c *client) must(r reply, status int) map[string]any {
	c.t.Helper()
	if r.status != status {
		c.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r.body
}

// clientToken gets a client access token from a node.
func (c *client) clientToken(nodeURL string, cr creds) string {
	c.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {cr.ClientID}, "client_secret": {cr.ClientSecret}}
	resp, err := c.http.PostForm(nodeURL+"/oidc/token", form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	tok, _ := out["access_token"].(string)
	if resp.StatusCode != http.StatusOK || tok == "" {
		c.t.Fatalf("client token: %d %v", resp.StatusCode, out)
	}
	return tok
}
