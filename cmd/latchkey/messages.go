package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
)

const messagesUsage = `Usage: latchkey messages <command>

Commands:
  list [--status queued|sent|failed|suppressed] [--limit N] [--json]
                     the outbox: each email and SMS with its status, attempts,
                     provider and the provider's reason for a failure
`

// messagesCommands are the messages subcommands.
var messagesCommands = map[string]subcommand{"list": withSystemFor(messagesList)}

// cmdMessages runs a messages subcommand.
func cmdMessages(ctx context.Context, args []string, e env) int {
	return runGroup(ctx, "messages", messagesUsage, messagesCommands, args, e)
}

const messagesListUsage = `messages list [--status queued|sent|failed|suppressed] [--limit N] [--json]

Shows the outbox: each email and SMS with its status, attempts, provider and
the provider's reason for a failure. Addresses are masked; message texts are
never shown (they hold codes: sealed while queued, erased once delivered).
A suppressed message is a decoy's (hide-unknown-users): queued and processed
like any other, delivered to no one.`

// messagesList lists the outbox.
func messagesList(ctx context.Context, sys *system, args []string, e env) int {
	fs := newFlagSet("messages list", messagesListUsage, e)
	status := fs.String("status", "", "only messages with this `STATUS`: queued, sent, failed or suppressed")
	limit := fs.Int("limit", 50, "how many messages, newest first (1 to 1000)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	switch latchkey.MessageStatus(*status) {
	case "", latchkey.MessageQueued, latchkey.MessageSent, latchkey.MessageFailed, latchkey.MessageSuppressed:
	default:
		return usageError(fs, e, "--status must be queued, sent, failed or suppressed")
	}
	if *limit < 1 || *limit > 1000 {
		return usageError(fs, e, "--limit must be between 1 and 1000")
	}
	list, err := sys.store.ListMessages(ctx, latchkey.MessageStatus(*status), *limit)
	if err != nil {
		return fail(e, err)
	}
	views := make([]messageView, len(list))
	for i, m := range list {
		views[i] = viewOfMessage(m)
	}
	if *asJSON {
		return printJSON(e.stdout, views)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHANNEL\tTO\tSTATUS\tATTEMPTS\tPROVIDER\tCREATED\tREASON")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", v.ID, v.Channel, v.To, v.Status, v.Attempts, v.Provider,
			v.CreatedAt.Format(time.RFC3339), v.LastError)
	}
	tw.Flush()
	return exitOK
}

// messageView is an outbox message as operators see it.
type messageView struct {
	ID            string     `json:"id"`
	AppID         string     `json:"app_id"`
	Channel       string     `json:"channel"`
	To            string     `json:"to"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	Provider      string     `json:"provider,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
}

func viewOfMessage(m latchkey.Message) messageView {
	v := messageView{ID: m.ID, AppID: m.AppID, Channel: string(m.Channel), To: delivery.Mask(m.To), Status: string(m.Status),
		Attempts: m.Attempts, Provider: m.Provider, LastError: m.LastError, CreatedAt: m.CreatedAt}
	if m.Status == latchkey.MessageQueued {
		v.NextAttemptAt = &m.NextAttemptAt
	}
	if !m.SentAt.IsZero() {
		v.SentAt = &m.SentAt
	}
	return v
}
