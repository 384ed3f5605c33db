package metrics

import (
	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/prometheus/client_golang/prometheus"
)

// loginMetrics follow a login from its send to its authentication, with
// the delivery in between, and count what the limits refused: the funnel
// sent → delivered → verified, per channel.
type loginMetrics struct {
	otpSends, linkSends *children[sendKey, prometheus.Counter]
	logins              *children[loginKey, prometheus.Counter]
	messages            *children[messageKey, prometheus.Counter]
	delivery            *children[messageKey, prometheus.Observer]
	retries             *children[latchkey.Channel, prometheus.Counter]
	refused             *children[refusalKey, prometheus.Counter]
}

type sendKey struct {
	app     string
	channel latchkey.Channel
	outcome login.Outcome
}

type loginKey struct {
	app     string
	kind    latchkey.ChallengeKind
	channel latchkey.Channel
	outcome login.Outcome
}

type messageKey struct {
	channel  latchkey.Channel
	provider string
	status   latchkey.MessageStatus
}

type refusalKey struct{ app, limit string }

// deliveryBuckets run from a message handed over at once to one that
// waited out retries, up to a code's usual lifetime.
var deliveryBuckets = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

func newLoginMetrics(reg prometheus.Registerer) *loginMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	otp := counter("latchkey_otp_sends_total", "Passcode sends, by app, channel and outcome.", "app", "channel", "outcome")
	link := counter("latchkey_link_sends_total", "Magic-link sends, by app, channel and outcome.", "app", "channel", "outcome")
	logins := counter("latchkey_logins_total",
		"Authentications, by app, method (otp or magic_link), the channel the code was sent by (none when no live code was found) and outcome.",
		"app", "method", "channel", "outcome")
	messages := counter("latchkey_messages_total",
		"Messages done with by the outbox, by channel, provider (none unless sent) and final status: sent, failed or suppressed (a decoy's).",
		"channel", "provider", "status")
	retries := counter("latchkey_message_retries_total", "Delivery attempts that failed and will be retried, by channel.", "channel")
	refused := counter("latchkey_rate_limited_total",
		"Requests refused by a limit, by app (empty for the server-wide limits and the bound on requests in flight) and limit.",
		"app", "limit")
	delivery := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latchkey_message_delivery_seconds",
		Help:    "Time from a send's acknowledgement (its message's creation) to the provider's acceptance, by channel and provider.",
		Buckets: deliveryBuckets}, []string{"channel", "provider"})
	reg.MustRegister(delivery)
	sends := func(v *prometheus.CounterVec) *children[sendKey, prometheus.Counter] {
		return newChildren(func(k sendKey) prometheus.Counter {
			return v.WithLabelValues(k.app, channel(k.channel), string(k.outcome))
		})
	}
	l := &loginMetrics{
		otpSends: sends(otp), linkSends: sends(link),
		logins: newChildren(func(k loginKey) prometheus.Counter {
			return logins.WithLabelValues(k.app, methodOf(k.kind), channel(k.channel), string(k.outcome))
		}),
		messages: newChildren(func(k messageKey) prometheus.Counter {
			return messages.WithLabelValues(channel(k.channel), provider(k.provider), string(k.status))
		}),
		delivery: newChildren(func(k messageKey) prometheus.Observer {
			return delivery.WithLabelValues(channel(k.channel), provider(k.provider))
		}),
		retries: newChildren(func(ch latchkey.Channel) prometheus.Counter { return retries.WithLabelValues(channel(ch)) }),
		refused: newChildren(func(k refusalKey) prometheus.Counter { return refused.WithLabelValues(k.app, k.limit) }),
	}
	// Exported at 0 from the start, so that a rate over them is defined
	// before the first retry.
	l.retries.get(latchkey.ChannelEmail)
	l.retries.get(latchkey.ChannelSMS)
	return l
}

var _ login.Observer = (*Metrics)(nil)

// Sent counts a send (login.Observer).
func (m *Metrics) Sent(app latchkey.App, kind latchkey.ChallengeKind, ch latchkey.Channel, outcome login.Outcome) {
	sends := m.logins.otpSends
	if kind == latchkey.KindLink {
		sends = m.logins.linkSends
	}
	sends.get(sendKey{app: app.ID, channel: ch, outcome: outcome}).Inc()
}

// Authenticated counts an authentication (login.Observer).
func (m *Metrics) Authenticated(app latchkey.App, kind latchkey.ChallengeKind, ch latchkey.Channel, outcome login.Outcome) {
	m.logins.logins.get(loginKey{app: app.ID, kind: kind, channel: ch, outcome: outcome}).Inc()
}

// Recorded counts a delivery outcome the outbox recorded: a message done
// with, and the time a sent one took; or a retry.
func (m *Metrics) Recorded(msg latchkey.Message) {
	if msg.Status == latchkey.MessageQueued {
		m.logins.retries.get(msg.Channel).Inc()
		return
	}
	k := messageKey{channel: msg.Channel, provider: msg.Provider, status: msg.Status}
	m.logins.messages.get(k).Inc()
	if msg.Status == latchkey.MessageSent {
		k.status = ""
		m.logins.delivery.get(k).Observe(msg.SentAt.Sub(msg.CreatedAt).Seconds())
	}
}

// RateLimited counts a request refused by limit, of the app with ID appID
// ("" for a server-wide limit or the bound on requests in flight).
func (m *Metrics) RateLimited(appID, limit string) {
	m.logins.refused.get(refusalKey{app: appID, limit: limit}).Inc()
}

// channel is a channel's label: the channels Latchkey has, "none" when no
// channel is known, and "other" for a channel a request made up.
func channel(ch latchkey.Channel) string {
	switch ch {
	case latchkey.ChannelEmail, latchkey.ChannelSMS, latchkey.ChannelDirect:
		return string(ch)
	case "":
		return "none"
	default:
		return "other"
	}
}

// methodOf is an authentication's method label.
func methodOf(kind latchkey.ChallengeKind) string {
	if kind == latchkey.KindLink {
		return "magic_link"
	}
	return "otp"
}

// provider is a provider's label; "none" for a message no provider took.
func provider(name string) string {
	if name == "" {
		return "none"
	}
	return name
}
