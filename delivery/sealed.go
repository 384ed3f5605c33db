package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
)

// Sealed messages. Everything in a message that could carry a code or a
// link (its subject, text and HTML) is sealed under the server secret when
// the message is made (Seal), so the outbox holds ciphertext only: a copy
// of the database, taken while a message waits or is retried, yields no
// working code. The worker opens a message only to hand it to the provider
// (openSealed wraps every Sender), under the current or a previous secret,
// so a secret rotation does not strand the messages already queued. The
// recipient and the sender name stay in clear: the outbox needs them to
// show and to log.

// sealedBody is what a sealed message's content holds.
type sealedBody struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text,omitempty"`
	HTML    string `json:"html,omitempty"`
}

// sealLabel binds a sealed body to its message: a body copied onto another
// message does not open.
func sealLabel(id string) string { return "outbox message " + id }

// Seal seals m's subject, text and HTML into m.Sealed under the current
// server secret and clears them. m.ID must be set.
func Seal(k *secrets.Keyring, m *latchkey.Message) error {
	plain, err := json.Marshal(sealedBody{Subject: m.Subject, Text: m.Text, HTML: m.HTML})
	if err != nil {
		return fmt.Errorf("seal message: %w", err)
	}
	if m.Sealed, err = k.Seal(plain, sealLabel(m.ID)); err != nil {
		return err
	}
	m.Subject, m.Text, m.HTML = "", "", ""
	return nil
}

// Open returns m with its sealed content opened into its subject, text and
// HTML. A message without sealed content is returned as it is.
func Open(k *secrets.Keyring, m latchkey.Message) (latchkey.Message, error) {
	if len(m.Sealed) == 0 {
		return m, nil
	}
	if k == nil {
		return m, errors.New("the message is sealed and no server secret is configured to open it")
	}
	plain, err := k.Open(m.Sealed, sealLabel(m.ID))
	if err != nil {
		return m, fmt.Errorf("open the message: %w", err)
	}
	var b sealedBody
	if err := json.Unmarshal(plain, &b); err != nil {
		return m, fmt.Errorf("open the message: %w", err)
	}
	m.Subject, m.Text, m.HTML, m.Sealed = b.Subject, b.Text, b.HTML, nil
	return m, nil
}

// opening is a Sender that opens a sealed message just before its
// provider sees it. A message that does not open (sealed under a secret no
// longer configured) fails permanently: no retry can open it. A suppressed
// message (a decoy's) is opened like any other, and then handed to no one:
// the worker records it as suppressed.
type opening struct {
	Sender
	keyring *secrets.Keyring
}

// Send opens m and hands it to the provider.
func (o opening) Send(ctx context.Context, m latchkey.Message) error {
	m, err := Open(o.keyring, m)
	if err != nil {
		return Permanent(err)
	}
	if m.Suppressed {
		return nil
	}
	return o.Sender.Send(ctx, m)
}

// openSealed wraps every sender so that it opens what it sends.
func openSealed(k *secrets.Keyring, senders map[latchkey.Channel][]Sender) map[latchkey.Channel][]Sender {
	out := make(map[latchkey.Channel][]Sender, len(senders))
	for ch, list := range senders {
		for _, s := range list {
			out[ch] = append(out[ch], opening{Sender: s, keyring: k})
		}
	}
	return out
}
