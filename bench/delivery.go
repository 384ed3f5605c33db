package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// deliveryTimeout is how long a flow waits for its message at a sink.
const deliveryTimeout = 10 * time.Second

// phoneAreaCodes are United States area codes in service. User i's phone
// number is +1 AAA 555-01NN, AAA the (i/100)th of them: the 555-0100 to
// 555-0199 lines are reserved for fiction in every area code, so no SMS
// meant for the sink can reach a person, and libphonenumber takes them as
// valid US mobile-or-fixed numbers (region US), which no default SMS
// country policy refuses.
var phoneAreaCodes = [...]int{
	201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228,
	229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301, 302,
	303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 325, 330,
	334, 336, 337, 339, 347, 351, 352, 360, 361, 386, 401, 402, 404, 405, 406, 407, 408, 409, 410, 412,
	413, 414, 415, 417, 419, 423, 424, 425, 430, 432, 434, 435, 440, 443, 469, 478, 479, 480, 484, 501,
}

// maxPhoneUsers is how many users have a phone number.
const maxPhoneUsers = len(phoneAreaCodes) * 100

// userPhone is the phone number of seeded user i, or "" past maxPhoneUsers.
func userPhone(i int) string {
	if i >= maxPhoneUsers {
		return ""
	}
	return "+1" + strconv.Itoa(phoneAreaCodes[i/100]) + "55501" + fmt.Sprintf("%02d", i%100)
}

// sinkSample is the sinks' counters at one end of the measured period.
type sinkSample struct {
	smtpConns, smtpMsgs, smtpDropped int64
	smsConns, smsMsgs, smsDropped    int64
}

// startSinks starts the sinks the flows need and Config did not give, and
// returns what stops them.
func (r *runner) startSinks() (stop func(), err error) {
	s := r.s
	var started []interface{ Close() error }
	stop = func() {
		for _, c := range started {
			_ = c.Close()
		}
	}
	r.smtp, r.sms = s.SMTPSink, s.SMSSink
	if r.smtp == nil && s.usesFunc(flowKind.bySMTP) {
		if r.smtp, err = StartSMTPSink(s.SMTPSinkAddr, WithClock(s.Now)); err != nil {
			return stop, err
		}
		started = append(started, r.smtp)
		r.progressf("SMTP sink on %s; the server must send with %s", r.smtp.Addr(), SMTPServerEnv(r.smtp.Addr()))
	}
	if r.sms == nil && s.usesFunc(flowKind.bySMS) {
		if r.sms, err = StartSMSSink(s.SMSSinkAddr, WithClock(s.Now)); err != nil {
			stop()
			return func() {}, err
		}
		started = append(started, r.sms)
		r.progressf("SMS sink on %s; the server must send with %s", r.sms.Addr(), SMSServerEnv(r.sms.Addr()))
	}
	return stop, nil
}

// SMTPServerEnv is the server's environment that sends email to an SMTP
// sink at addr.
func SMTPServerEnv(addr string) string {
	return "LATCHKEY_EMAIL_PROVIDER=smtp LATCHKEY_SMTP_URL=smtp://" + addr + "?starttls=off LATCHKEY_EMAIL_FROM=login@bench.latchkey.test"
}

// SMSServerEnv is the server's environment that sends SMS to an SMS sink at
// addr.
func SMSServerEnv(addr string) string {
	return "LATCHKEY_SMS_PROVIDER=twilio LATCHKEY_TWILIO_API_URL=http://" + addr +
		" LATCHKEY_TWILIO_ACCOUNT_SID=" + SMSSinkAccountSID + " LATCHKEY_TWILIO_AUTH_TOKEN=" + SMSSinkAuthToken +
		" LATCHKEY_TWILIO_FROM=" + SMSSinkFrom
}

// sampleSinks reads the sinks' counters.
func (r *runner) sampleSinks() sinkSample {
	var x sinkSample
	if r.smtp != nil {
		x.smtpConns, x.smtpMsgs, x.smtpDropped = r.smtp.Connections(), r.smtp.Received(), r.smtp.Dropped()
	}
	if r.sms != nil {
		x.smsConns, x.smsMsgs, x.smsDropped = r.sms.Connections(), r.sms.Received(), r.sms.Dropped()
	}
	return x
}

// delivered is a flow's message: by email to the user's address, or by SMS
// to the user's phone.
type delivered struct {
	channel, idType, to string
	sink                interface {
		Await(context.Context, string) (Delivered, error)
	}
	ep endpoint // the sink, for failures
}

// destination is where a flow's message goes.
func (w *worker) destination(kind flowKind, user int) delivered {
	if kind.bySMS() {
		return delivered{channel: "sms", idType: "phone_number", to: userPhone(user), sink: w.r.sms, ep: epSMSSink}
	}
	return delivered{channel: "email", idType: "email", to: userEmail(user), sink: w.r.smtp, ep: epSMTPSink}
}

// otpDelivered logs a user in with a passcode sent by email or SMS and
// received at a sink, and returns the four tokens.
func (w *worker) otpDelivered(ctx context.Context, rec *recorder, kind flowKind, user int) ([4]string, *flowError) {
	d := w.destination(kind, user)
	sent := w.r.s.Now()
	_, _, _, ferr := w.q.call(ctx, rec, epOTPSend, "",
		jsonObject("channel", d.channel, "identifier", d.to, "identifier_type", d.idType), http.StatusOK)
	if ferr != nil {
		return [4]string{}, ferr
	}
	msg, ferr := w.receive(ctx, rec, kind, d, sent)
	if ferr != nil {
		return [4]string{}, ferr
	}
	code := FindCode(msg.Text)
	if code == "" {
		return [4]string{}, &flowError{ep: d.ep, reason: "no passcode in the message"}
	}
	_, body, _, ferr := w.q.call(ctx, rec, epOTPAuthenticate, "",
		jsonObject("passcode", code, "identifier", d.to, "identifier_type", d.idType), http.StatusOK)
	if ferr != nil {
		return [4]string{}, ferr
	}
	return w.tokens(ctx, rec, epOTPAuthenticate, body, w.r.s.Logout)
}

// magicLink logs a user in with a magic link sent by email and received at
// the SMTP sink.
func (w *worker) magicLink(ctx context.Context, rec *recorder, user int) *flowError {
	d := w.destination(kindMagicLink, user)
	sent := w.r.s.Now()
	_, _, _, ferr := w.q.call(ctx, rec, epLinkSend, "", jsonObject("identifier", d.to,
		"identifier_type", "email", "redirect_uri", w.r.s.RedirectURI, "channel", "email"), http.StatusOK)
	if ferr != nil {
		return ferr
	}
	msg, ferr := w.receive(ctx, rec, kindMagicLink, d, sent)
	if ferr != nil {
		return ferr
	}
	link := findLink(msg.Text)
	if link == "" {
		return &flowError{ep: d.ep, reason: "no link in the message"}
	}
	return w.openLink(ctx, rec, link)
}

// receive waits for the message a flow's send, which started at sent, had
// delivered, and records its delivery latency: from the send's answer to
// its arrival. A message that arrived before the send is a late one of an
// earlier flow, and is passed over.
func (w *worker) receive(ctx context.Context, rec *recorder, kind flowKind, d delivered, sent time.Time) (Delivered, *flowError) {
	acked := w.r.s.Now()
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	for {
		msg, err := d.sink.Await(ctx, d.to)
		if err != nil {
			return msg, &flowError{ep: d.ep, reason: "no message within " + deliveryTimeout.String()}
		}
		if !msg.Arrived.Before(sent) {
			rec.delivered(kind, msg.Arrived.Sub(acked))
			return msg, nil
		}
	}
}

// findLink returns the first http or https URL in a message's text.
func findLink(text string) string {
	i := strings.Index(text, "https://")
	if j := strings.Index(text, "http://"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		return ""
	}
	end := strings.IndexAny(text[i:], " \t\r\n<>\"")
	if end < 0 {
		return text[i:]
	}
	return text[i : i+end]
}
