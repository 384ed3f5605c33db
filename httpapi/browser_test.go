package httpapi_test

import (
	"context"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/latchkeyhq/latchkey/httpapi"
)

// browserRequired, set to "required" (as CI sets it), turns a missing
// Chromium into a failure instead of a skip.
const browserRequired = "LATCHKEY_TEST_BROWSER"

// browserZone is the time zone the browser runs in: not UTC, so that a
// page showing UTC times would be caught.
const browserZone = "Asia/Tokyo"

// chromium finds a Chromium or Chrome to drive, or skips the test (fails it
// when a browser is required).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LATCHKEY_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(browserRequired) == "required" {
		t.Fatalf("%s=required but no Chromium was found (apt-get install chromium, or set LATCHKEY_TEST_CHROMIUM)", browserRequired)
	}
	t.Skipf("Chromium is not installed: skipping the dev inbox browser test (apt-get install chromium; %s=required makes this a failure)", browserRequired)
	return ""
}

// newBrowser starts a headless Chromium of its own, in the browserZone,
// with a fresh profile, and returns a tab's context. Nothing in it may take
// longer than the generous deadline: every wait is on a condition.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 900),
		chromedp.Env("TZ=" + browserZone),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return tab
}

// screenshot saves the whole page in the test's artifact directory.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	png := get(t, tab, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// do runs browser steps, failing the test with what was being done.
func do(t *testing.T, tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one browser action and returns its value.
func get[T any](t *testing.T, tab context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(tab, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestDevInboxInABrowser opens the dev inbox in a real headless Chromium:
// the page renders, a new message appears without a reload, the code
// offered for an OTP email is the real one and none is offered for a
// magic-link email, times are shown in the browser's zone, email frames fit
// their content, and Clear empties the inbox; then the magic link lands on
// the dev complete page, whose button signs the user in. Screenshots are kept in the
// test's artifact directory (go test -artifacts).
func TestDevInboxInABrowser(t *testing.T) {
	tab := newBrowser(t)
	h := newHarnessWith(t, harnessOptions{demoApp: true})
	c := h.demo.withoutSendLimits() // an OTP, then a magic link, to one address
	c.mustUser(map[string]any{"email": "view@example.com"})

	do(t, tab, "open the empty inbox", chromedp.Navigate(h.srv.URL+"/dev/inbox"), chromedp.WaitVisible(chromedp.CSS(".empty")),
		chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`))
	screenshot(t, tab, "1-empty.png")

	// An OTP email appears by itself.
	c.sendOTP(map[string]any{"channel": "email", "identifier": "view@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	h.deliver()
	do(t, tab, "wait for the OTP email", chromedp.WaitVisible(chromedp.CSS("article button.copy")))
	if !get(t, tab, "check the document", chromedp.Evaluate[bool](`window.sameDocument === true`)) {
		t.Fatal("the page reloaded to show the new message")
	}
	offered := get(t, tab, "read the offered code", chromedp.AttributeValue(chromedp.CSS("article button.copy"), "data-copy")).Value
	text := get(t, tab, "read the email's text", chromedp.Evaluate[string](`document.querySelector("article pre").textContent`))
	real := regexp.MustCompile(`(?m)^\s+(\d{6})$`).FindStringSubmatch(text)
	if real == nil || offered != real[1] {
		t.Fatalf("the page offers code %q; the email's code is %v", offered, real)
	}

	// Times are in the browser's zone: the harness clock reads 09:00 UTC.
	shown := get(t, tab, "read the time", chromedp.Text(chromedp.CSS("article time")))
	title := get(t, tab, "read the time's title", chromedp.AttributeValue(chromedp.CSS("article time"), "title")).Value
	local := h.clock.Now().In(mustZone(t, browserZone)).Format("15:04:05")
	if !strings.Contains(shown, local) || !strings.Contains(title, browserZone) {
		t.Fatalf("time shown %q (title %q); want %s, the time in %s", shown, title, local, browserZone)
	}

	// A magic-link email: a link to open, and no code to copy.
	c.sendLink(map[string]any{"identifier": "view@example.com", "identifier_type": "email",
		"redirect_uri": h.srv.URL + httpapi.DevCompletePath}).wantStatus(http.StatusOK)
	h.deliver()
	do(t, tab, "wait for the magic-link email", chromedp.WaitVisible(chromedp.CSS("article:nth-of-type(2)")))
	links := get(t, tab, "count links", chromedp.Evaluate[int](`document.querySelectorAll("article:first-of-type a.open").length`))
	codes := get(t, tab, "count codes", chromedp.Evaluate[int](
		`[...document.querySelectorAll("article:first-of-type button.copy")].filter(b => b.textContent.startsWith("Copy code")).length`))
	if links != 1 || codes != 0 {
		t.Fatalf("the magic-link email offers %d links and %d codes; want a link and no code", links, codes)
	}

	// Each email's frame takes its content's height.
	do(t, tab, "wait for the frames to fit", chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("iframe.mail")].every(f =>
		f.contentDocument && f.contentDocument.readyState === "complete" &&
		Math.abs(f.clientHeight - f.contentDocument.documentElement.scrollHeight) <= 1)`, chromedp.WithPollingTimeout(time.Minute)))
	heights := get(t, tab, "measure the frames", chromedp.Evaluate[[]float64](`[...document.querySelectorAll("iframe.mail")].map(f => f.clientHeight)`))
	for _, ht := range heights {
		if ht <= 160 || math.Abs(ht-560) < 1 {
			t.Errorf("frame heights %v; want each sized to its email, not the initial 160 px nor a fixed 560 px", heights)
		}
	}
	screenshot(t, tab, "2-messages.png")

	link := h.lastLink("view@example.com")

	// Clear deletes the captured messages, and the page shows it.
	do(t, tab, "clear", chromedp.Click(chromedp.CSS("#clear")), chromedp.WaitVisible(chromedp.CSS(".empty")))
	if left := h.inbox(); len(left) != 0 {
		t.Fatalf("after Clear the dev inbox still holds %d messages", len(left))
	}
	screenshot(t, tab, "3-cleared.png")

	// The magic link lands on the dev complete page, whose button exchanges
	// the code as the demo app.
	do(t, tab, "open the magic link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#exchange")))
	if got := get(t, tab, "read the code", chromedp.Text(chromedp.CSS("#code"))); got != linkCodeOf(t, h, link) {
		t.Fatalf("the dev complete page shows code %q; want the link's", got)
	}
	screenshot(t, tab, "4-complete.png")
	do(t, tab, "exchange the code", chromedp.Click(chromedp.CSS("#exchange")), chromedp.WaitVisible(chromedp.CSS("#tokens")))
	if claims := get(t, tab, "read the claims", chromedp.Text(chromedp.CSS("#claims"))); !strings.Contains(claims, `"eml"`) {
		t.Fatalf("the exchanged ID token's claims %s; want amr eml", claims)
	}
	screenshot(t, tab, "5-signed-in.png")
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
