package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultDevURL is where `latchkey dev` listens unless told otherwise.
const defaultDevURL = "http://127.0.0.1:7080"

const devInboxUsage = `dev inbox [--to ADDRESS] [--code] [--link] [--url URL]

Prints the newest message of a running dev server's inbox: its code (an
OTP's passcode, or the code a magic link carries) and its link. It asks the
server over HTTP, at --url or $LATCHKEY_URL (what "latchkey dev" prints),
so it works whatever the database. It first waits for the server to deliver
what was just sent. With --code or --link it prints only that, and fails
when the message has none.`

// inboxMessage is the part of a dev inbox message the command shows.
type inboxMessage struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Code    string `json:"code"`
	Link    string `json:"link"`
}

// cmdDevInbox is `latchkey dev inbox`.
func cmdDevInbox(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("dev inbox", devInboxUsage, e)
	to := fs.String("to", "", "only messages to this email address or phone number")
	code := fs.Bool("code", false, "print only the code")
	link := fs.Bool("link", false, "print only the link")
	base := fs.String("url", "", "the dev server's base URL (default $LATCHKEY_URL, else "+defaultDevURL+")")
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	if *base == "" {
		*base = e.getenv("LATCHKEY_URL")
	}
	if *base == "" {
		*base = defaultDevURL
	}
	m, err := newestDevMessage(ctx, strings.TrimRight(*base, "/"), *to)
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey dev inbox:", err)
		return exitError
	}
	return printDevMessage(e, m, *code, *link)
}

// printDevMessage prints what was asked of m.
func printDevMessage(e env, m inboxMessage, code, link bool) int {
	missing := func(what string) int {
		fmt.Fprintf(e.stderr, "latchkey dev inbox: the newest message to %s (%s) has no %s\n", m.To, m.Channel, what)
		return exitError
	}
	switch {
	case code && m.Code == "":
		return missing("code")
	case link && m.Link == "":
		return missing("link")
	case code || link:
		if code {
			fmt.Fprintln(e.stdout, m.Code)
		}
		if link {
			fmt.Fprintln(e.stdout, m.Link)
		}
		return exitOK
	}
	fmt.Fprintf(e.stdout, "to:      %s (%s)\n", m.To, m.Channel)
	if m.Subject != "" {
		fmt.Fprintf(e.stdout, "subject: %s\n", m.Subject)
	}
	if m.Code != "" {
		fmt.Fprintf(e.stdout, "code:    %s\n", m.Code)
	}
	if m.Link != "" {
		fmt.Fprintf(e.stdout, "link:    %s\n", m.Link)
	}
	return exitOK
}

// newestDevMessage asks the dev server for its newest message (to "to",
// when set), once what was sent has been delivered.
func newestDevMessage(ctx context.Context, base, to string) (inboxMessage, error) {
	q := url.Values{"limit": {"1"}, "wait": {"true"}}
	if to != "" {
		q.Set("to", to)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/dev/inbox/messages?"+q.Encode(), nil)
	if err != nil {
		return inboxMessage{}, fmt.Errorf("--url %q: %w", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return inboxMessage{}, fmt.Errorf("is `latchkey dev` running at %s? %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return inboxMessage{}, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return inboxMessage{}, fmt.Errorf("%s has no dev inbox: is it a server started with `latchkey dev`?", base)
	}
	if resp.StatusCode != http.StatusOK {
		return inboxMessage{}, fmt.Errorf("%s answered %s: %s", base, resp.Status, strings.TrimSpace(string(body)))
	}
	var list []inboxMessage
	if err := json.Unmarshal(body, &list); err != nil {
		return inboxMessage{}, fmt.Errorf("%s did not answer with the dev inbox: %w", base, err)
	}
	if len(list) == 0 {
		if to != "" {
			return inboxMessage{}, fmt.Errorf("no message to %s in the dev inbox", to)
		}
		return inboxMessage{}, errors.New("the dev inbox is empty")
	}
	return list[0], nil
}
