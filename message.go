package latchkey

import "time"

// MessageStatus is where an outbound message is in its delivery.
type MessageStatus string

// Message statuses.
const (
	MessageQueued MessageStatus = "queued"
	MessageSent   MessageStatus = "sent"
	MessageFailed MessageStatus = "failed" // permanently: retries stopped or the message expired
	// MessageSuppressed is a decoy's message (hide_unknown_users), done
	// with: claimed and opened like any other, handed to no provider.
	MessageSuppressed MessageStatus = "suppressed"
)

// Message is an email or SMS waiting in, or gone through, the outbox. It is
// written in the same transaction as the challenge it carries, so a code is
// never sent without a record and never recorded without being sent. Its
// content is erased once it is delivered or given up.
type Message struct {
	ID        string
	AppID     string
	Channel   Channel // email or sms
	To        string
	Subject   string // email only
	Text      string
	HTML      string // email only
	From      string // email sender name, or SMS sender ID
	Status    MessageStatus
	Attempts  int
	LastError string
	Provider  string // the provider that delivered it
	CreatedAt time.Time
	// NextAttemptAt is when the message is next due; a claimed message
	// has it moved forward by the claim's lease, and a message handed
	// straight to the worker of the node that queued it is written with
	// that lease already taken (ChallengeStore.CreateChallenge).
	NextAttemptAt time.Time
	// ExpiresAt is when the code inside stops being useful: an undelivered
	// message is given up then.
	ExpiresAt time.Time
	SentAt    time.Time
	// Sealed, when set, holds the subject, text and HTML sealed under the
	// server secret (delivery.Seal), which are then empty: what the outbox
	// keeps of a message it has not delivered yet.
	Sealed []byte
	// Suppressed marks a decoy's message: the same work as a real one,
	// delivered to no one, and recorded as MessageSuppressed.
	Suppressed bool
}

// MessageUpdate is one change of OutboxStore.UpdateMessages: the message
// with this ID, changed by Update.
type MessageUpdate struct {
	ID     string
	Update func(*Message) error
}

// OutboxBacklog is what waits in the outbox: the messages still queued,
// whether due, being delivered or waiting out a retry's backoff.
type OutboxBacklog struct {
	Queued int
	// Oldest is when the oldest queued message was created (its send
	// acknowledged); zero when none is queued.
	Oldest time.Time
}

// DevMessage is a message captured by the dev inbox instead of being sent.
type DevMessage struct {
	ID        string
	AppID     string
	Channel   Channel
	To        string
	Subject   string
	Text      string
	HTML      string
	CreatedAt time.Time
}
