package httpapi

import (
	_ "embed"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/latchkeyhq/latchkey"
)

// devInboxLimit is how many captured messages the dev inbox shows.
const devInboxLimit = 200

// devMessage is one captured message as GET /dev/inbox/messages returns it.
type devMessage struct {
	ID        string `json:"id"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	Subject   string `json:"subject"`
	Text      string `json:"text"`
	HTML      string `json:"html"`
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
	out := make([]devMessage, 0, len(list))
	for _, m := range list {
		out = append(out, devMessage{ID: m.ID, Channel: string(m.Channel), To: m.To, Subject: m.Subject, Text: m.Text,
			HTML: m.HTML, CreatedAt: dateTime(m.CreatedAt)})
	}
	return out, nil
}

// devInboxJSON is GET /dev/inbox/messages[?to=ADDRESS][&limit=N]: captured
// messages, newest first.
func (h *handler) devInboxJSON(w http.ResponseWriter, r *http.Request) error {
	list, err := h.devMessages(r)
	if err != nil {
		return err
	}
	noStore(w)
	writeJSON(w, http.StatusOK, list)
	return nil
}

//go:embed devinbox.html
var devInboxHTML string

var devInboxPage = template.Must(template.New("inbox").Funcs(template.FuncMap{
	"codes": codesIn, "links": linksIn,
}).Parse(devInboxHTML))

// devInbox is GET /dev/inbox: the captured messages, readable, with each
// email's HTML shown in a sandboxed frame and codes and links ready to copy.
func (h *handler) devInbox(w http.ResponseWriter, r *http.Request) error {
	list, err := h.devMessages(r)
	if err != nil {
		return err
	}
	noStore(w)
	// The emails' own HTML runs in sandboxed srcdoc frames with no scripts.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'unsafe-inline'; frame-src 'self'; base-uri 'none'; form-action 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return devInboxPage.Execute(w, list)
}

var (
	codePattern = regexp.MustCompile(`\b\d{4,8}\b`)
	linkPattern = regexp.MustCompile(`https?://[^\s"<>]+`)
)

// codesIn finds the passcodes in a message's text, to offer them for
// copying.
func codesIn(text string) []string { return unique(codePattern.FindAllString(text, -1)) }

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
