package httpapi

import (
	"context"
	_ "embed"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/login"
)

// devInboxLimit is how many captured messages the dev inbox shows.
const devInboxLimit = 200

// devMessage is one captured message as GET /dev/inbox/messages returns it.
// Code and Link are what a developer copies out of it: an OTP message's
// passcode, or a magic-link email's link and the code that link carries
// (what the redirect hands the app's backend).
type devMessage struct {
	ID        string `json:"id"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	Subject   string `json:"subject"`
	Text      string `json:"text"`
	HTML      string `json:"html"`
	Code      string `json:"code,omitempty"`
	Link      string `json:"link,omitempty"`
	CreatedAt string `json:"created_at"`
}

// devMessages returns the newest captured messages: at most ?limit= of
// them (200 by default and at most), only those to the ?to= address when it
// names one.
func (h *handler) devMessages(r *http.Request) ([]devMessage, error) {
	limit := devInboxLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > devInboxLimit {
			return nil, latchkey.Errorf(latchkey.CodeInvalid, "limit must be a whole number from 1 to %d", devInboxLimit)
		}
		limit = n
	}
	list, err := h.DevInbox.ListDevMessages(r.Context(), r.URL.Query().Get("to"), limit)
	if err != nil {
		return nil, err
	}
	names := map[string]string{} // app ID to name, read once per request
	out := make([]devMessage, 0, len(list))
	for _, m := range list {
		if _, ok := names[m.AppID]; !ok {
			app, err := h.Store.GetApp(r.Context(), m.AppID)
			if err != nil && latchkey.ErrorCode(err) != latchkey.CodeNotFound {
				return nil, err
			}
			names[m.AppID] = app.Name
		}
		dm := devMessage{ID: m.ID, Channel: string(m.Channel), To: m.To, Subject: m.Subject, Text: m.Text,
			HTML: m.HTML, CreatedAt: dateTime(m.CreatedAt)}
		dm.Code, dm.Link = codeAndLink(m.Text, names[m.AppID])
		out = append(out, dm)
	}
	return out, nil
}

// devInboxJSON is GET /dev/inbox/messages[?to=ADDRESS][&limit=N][&wait=true]:
// captured messages, newest first. With wait, it first waits (a few seconds
// at most) until no message to the address is still in the outbox, so that
// a send answered just before is among them.
func (h *handler) devInboxJSON(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("wait") == "true" {
		if err := h.waitForDelivery(r.Context(), r.URL.Query().Get("to")); err != nil {
			return err
		}
	}
	list, err := h.devMessages(r)
	if err != nil {
		return err
	}
	noStore(w)
	writeJSON(w, http.StatusOK, list)
	return nil
}

// devWaitLimit bounds how long a dev inbox read waits for the outbox, and
// devWaitPoll is how often it looks meanwhile.
const (
	devWaitLimit = 10 * time.Second
	devWaitPoll  = 20 * time.Millisecond
)

// waitForDelivery returns once no message to "to" (to anyone, when empty)
// waits in the outbox, or devWaitLimit has passed.
func (h *handler) waitForDelivery(ctx context.Context, to string) error {
	limit := time.NewTimer(devWaitLimit)
	defer limit.Stop()
	poll := time.NewTicker(devWaitPoll)
	defer poll.Stop()
	for {
		queued, err := h.Store.ListMessages(ctx, latchkey.MessageQueued, devInboxLimit)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(queued, func(m latchkey.Message) bool { return to == "" || m.To == to }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-limit.C:
			return nil
		case <-poll.C:
		}
	}
}

//go:embed devinbox.html
var devInboxHTML string

var devInboxPage = template.Must(template.New("inbox").Funcs(template.FuncMap{"links": linksIn}).Parse(devInboxHTML))

// devInboxPolicy is the dev inbox page's Content-Security-Policy: its own
// inline script and style, requests to itself only, and the captured
// emails' HTML in sandboxed srcdoc frames in which no script runs.
const devInboxPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'unsafe-inline'; " +
	"connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// devInbox is GET /dev/inbox: the captured messages, readable, with each
// email's HTML shown in a sandboxed frame and codes and links ready to copy.
func (h *handler) devInbox(w http.ResponseWriter, r *http.Request) error {
	list, err := h.devMessages(r)
	if err != nil {
		return err
	}
	noStore(w)
	w.Header().Set("Content-Security-Policy", devInboxPolicy)
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return devInboxPage.Execute(w, list)
}

// clearDevInbox is DELETE /dev/inbox/messages: every captured message is
// deleted; 204. Being a DELETE, another site's page cannot send it (the
// browser would need this server's CORS consent, which it never gives).
func (h *handler) clearDevInbox(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.DevInbox.DeleteDevMessages(r.Context(), h.Now().Add(time.Hour)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var (
	codePattern = regexp.MustCompile(`(^|[^\w.:/-])(\d{4,8})($|[^\w:/-])`)
	linkPattern = regexp.MustCompile(`https?://[^\s"<>]+`)
)

// codeAndLink finds what a captured message of the app named appName
// carries. A magic-link email carries a link to LinkPath, whose code query
// parameter is the code; any other message carries a passcode: a run of 4
// to 8 digits standing alone in the text once every link and the app's
// name are taken out, so that the digits of a port, a path, a query or a
// name are never taken for one. A run alone on its line (as the default
// email sets the code) wins over one inside a sentence.
func codeAndLink(text, appName string) (code, link string) {
	for _, l := range linksIn(text) {
		u, err := url.Parse(l)
		if err == nil && u.Path == login.LinkPath && u.Query().Get("code") != "" {
			return u.Query().Get("code"), l
		}
	}
	if appName != "" {
		text = strings.ReplaceAll(text, appName, " ")
	}
	codes := codesIn(text)
	for _, c := range codes {
		for _, line := range strings.Split(text, "\n") {
			if strings.TrimSpace(line) == c {
				return c, ""
			}
		}
	}
	if len(codes) > 0 {
		return codes[0], ""
	}
	return "", ""
}

// codesIn finds the digit runs standing alone in a message's text, outside
// any link.
func codesIn(text string) []string {
	var out []string
	for _, m := range codePattern.FindAllStringSubmatch(linkPattern.ReplaceAllString(text, " "), -1) {
		out = append(out, m[2])
	}
	return unique(out)
}

// linksIn finds the links in a message's text.
func linksIn(text string) []string { return unique(linkPattern.FindAllString(text, -1)) }

func unique(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		s = strings.TrimRight(s, ".,)")
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// writeHTMLPage writes a minimal self-contained page, for the few answers a
// person's browser sees.
func writeHTMLPage(w http.ResponseWriter, status int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_ = simplePage.Execute(w, map[string]string{"Title": title, "Body": body})
}

var simplePage = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body style="font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;background:#f4f5f7;color:#1f2328;display:flex;min-height:90vh;align-items:center;justify-content:center;margin:0">
<main style="max-width:420px;background:#fff;border:1px solid #e3e6ea;border-radius:12px;padding:32px;text-align:center">
<h1 style="font-size:20px;margin:0 0 12px">{{.Title}}</h1><p style="color:#57606a;margin:0">{{.Body}}</p></main></body></html>
`))
