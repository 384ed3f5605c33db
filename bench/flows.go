package bench

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

const (
	// inboxTimeout is how long the otp-email-inbox flow waits for its message.
	inboxTimeout = 10 * time.Second
	// inboxFirstPoll and inboxMaxPoll bound the dev inbox polling backoff:
	// messages usually arrive within milliseconds, and each poll costs the
	// server a query.
	inboxFirstPoll = 2 * time.Millisecond
	inboxMaxPoll   = 100 * time.Millisecond
)

// userEmail is the address of seeded user i.
func userEmail(i int) string { return "bench-" + strconv.Itoa(i) + "@bench.latchkey.test" }

// Keys read from responses, allocated once.
var (
	keysCode    = []string{"code"}
	keysLink    = []string{"link"}
	keysTokens  = []string{"access_token", "id_token", "refresh_token", "session_id"}
	keysRefresh = []string{"access_token", "refresh_token"}
	keysMessage = []string{"id", "text"}
)

// worker is one virtual user: it owns users id, id+stride, id+2*stride...
// (stride being the number of workers), so no two flows in flight share a
// user, and runs one flow at a time, taking the flows round-robin.
type worker struct {
	r     *runner
	id    int
	users int // how many users it owns
	q     requester
	rec   *recorder
	timer *time.Timer // the inbox polling backoff

	nextUser, nextKind int
	out                [4]string // scratch for jsonStrings

	// refreshToken is what the refresh flow rotates, from an untimed login
	// into refreshSession.
	refreshToken, refreshSession string
	// inboxSeen is the newest dev inbox message ID seen for each user, so
	// that the otp-email-inbox flow takes only a message newer than its send.
	inboxSeen map[int]string

	// done, bad and refused count every flow ended, measured or not, for
	// progress.
	done, bad, refused atomic.Uint64
}

func newWorker(r *runner, id int) *worker {
	stride := r.s.workers
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &worker{r: r, id: id, users: (r.s.Users - id + stride - 1) / stride, q: requester{c: r.c},
		rec: newRecorder(r.s), timer: t, inboxSeen: map[int]string{}}
}

// user returns the worker's j-th user.
func (w *worker) user(j int) int { return w.id + (j%w.users)*w.r.s.workers }

// roundRobin returns the worker's next flow in its round-robin of the
// configured flows.
func (w *worker) roundRobin() flowKind {
	k := w.r.s.kinds[w.nextKind%len(w.r.s.kinds)]
	w.nextKind++
	return k
}

// next runs a flow with the worker's next user. sched is when the flow was
// meant to start (an open loop's schedule; the zero time in a closed loop,
// where it starts now): latency runs from then, less any untimed set-up.
// Unmeasured flows record nothing; a flow cut short by the end of ctx
// counts neither way.
func (w *worker) next(ctx context.Context, kind flowKind, sched time.Time, measured bool) {
	s := w.r.s
	user := w.user(w.nextUser)
	w.nextUser++
	var rec *recorder
	if measured {
		rec = w.rec
	}
	setupStart := s.Now()
	if sched.IsZero() {
		sched = setupStart
	}
	ferr := w.setup(ctx, kind, user)
	setup := s.Now().Sub(setupStart)
	if ferr == nil {
		ferr = w.flow(ctx, kind, user, rec)
	}
	end := s.Now()
	if ferr != nil {
		if ctx.Err() != nil {
			return
		}
		w.done.Add(1)
		if ferr.refused {
			w.refused.Add(1)
			rec.refused(kind)
			return
		}
		w.bad.Add(1)
		rec.failed(kind, ferr.Error())
		return
	}
	w.done.Add(1)
	rec.completed(kind, end.Sub(sched)-setup)
}

// setup does the untimed work a flow needs first: the login whose refresh
// token the refresh flow rotates, and the dev inbox's newest message before
// a user's first otp-email-inbox flow.
func (w *worker) setup(ctx context.Context, kind flowKind, user int) *flowError {
	switch kind {
	case kindRefresh:
		if w.refreshToken == "" {
			return w.setupRefresh(ctx)
		}
	case kindOTPEmailInbox:
		if _, ok := w.inboxSeen[user]; !ok {
			id, _, ferr := w.newestMessage(ctx, nil, userEmail(user))
			if ferr != nil {
				return ferr
			}
			w.inboxSeen[user] = id
		}
	}
	return nil
}

// setupRefresh logs the worker's first user in, untimed, for the refresh
// flow; a session left from a failed rotation is ended first.
func (w *worker) setupRefresh(ctx context.Context) *flowError {
	if w.refreshSession != "" {
		_ = w.logout(ctx, nil, w.refreshSession)
		w.refreshSession = ""
	}
	tokens, ferr := w.otp(ctx, nil, w.user(0), false, false)
	if ferr != nil {
		return &flowError{ep: ferr.ep, reason: "set-up login: " + ferr.reason}
	}
	w.refreshToken, w.refreshSession = tokens[2], tokens[3]
	return nil
}

// flow runs one flow, recording into rec.
func (w *worker) flow(ctx context.Context, kind flowKind, user int, rec *recorder) *flowError {
	switch kind {
	case kindOTPDirect, kindOTPEmailInbox:
		_, ferr := w.otp(ctx, rec, user, kind == kindOTPEmailInbox, w.r.s.Logout)
		return ferr
	case kindOTPEmail, kindOTPSMS:
		if w.r.s.supabase() {
			return w.supabaseOTP(ctx, rec, user)
		}
		_, ferr := w.otpDelivered(ctx, rec, kind, user)
		return ferr
	case kindLink:
		return w.link(ctx, rec, user)
	case kindMagicLink:
		return w.magicLink(ctx, rec, user)
	default:
		return w.rotate(ctx, rec)
	}
}

// otp logs a user in with a passcode, returned directly or read from the
// dev inbox, and returns the four tokens (access, ID, refresh, session).
func (w *worker) otp(ctx context.Context, rec *recorder, user int, byEmail, logout bool) ([4]string, *flowError) {
	addr := userEmail(user)
	channel := "direct"
	if byEmail {
		channel = "email"
	}
	_, body, _, ferr := w.q.call(ctx, rec, epOTPSend, "",
		jsonObject("channel", channel, "identifier", addr, "identifier_type", "email"), http.StatusOK)
	if ferr != nil {
		return [4]string{}, ferr
	}
	var code string
	if byEmail {
		if code, ferr = w.awaitCode(ctx, rec, user, addr); ferr != nil {
			return [4]string{}, ferr
		}
	} else {
		if code, ferr = w.field(rec, epOTPSend, body, keysCode); ferr != nil {
			return [4]string{}, ferr
		}
	}
	_, body, _, ferr = w.q.call(ctx, rec, epOTPAuthenticate, "",
		jsonObject("passcode", code, "identifier", addr, "identifier_type", "email"), http.StatusOK)
	if ferr != nil {
		return [4]string{}, ferr
	}
	return w.tokens(ctx, rec, epOTPAuthenticate, body, logout)
}

// link logs a user in with a magic link: asks for it, opens it as a browser
// would, and exchanges the code its redirect carries.
func (w *worker) link(ctx context.Context, rec *recorder, user int) *flowError {
	_, body, _, ferr := w.q.call(ctx, rec, epLinkSend, "", jsonObject("identifier", userEmail(user),
		"identifier_type", "email", "redirect_uri", w.r.s.RedirectURI, "channel", "direct"), http.StatusOK)
	if ferr != nil {
		return ferr
	}
	link, ferr := w.field(rec, epLinkSend, body, keysLink)
	if ferr != nil {
		return ferr
	}
	return w.openLink(ctx, rec, link)
}

// openLink opens a magic link as a browser would, without following its
// redirect, and exchanges the code the redirect carries for tokens.
func (w *worker) openLink(ctx context.Context, rec *recorder, link string) *flowError {
	_, _, hdr, ferr := w.q.call(ctx, rec, epLinkOpen, link, nil, http.StatusFound)
	if ferr != nil {
		return ferr
	}
	loc, err := url.Parse(hdr.Get("Location"))
	code := ""
	if err == nil {
		code = loc.Query().Get("code")
	}
	if code == "" {
		rec.invalid(epLinkOpen)
		return &flowError{ep: epLinkOpen, reason: "no code in the redirect"}
	}
	_, body, _, ferr := w.q.call(ctx, rec, epLinkAuthenticate, "", jsonObject("code", code), http.StatusOK)
	if ferr != nil {
		return ferr
	}
	_, ferr = w.tokens(ctx, rec, epLinkAuthenticate, body, w.r.s.Logout)
	return ferr
}

// rotate rotates the worker's refresh token once. On failure the token is
// dropped (it may have been rotated by a request whose answer was lost, and
// presenting it again would end its family), and the next refresh flow logs
// in again first.
func (w *worker) rotate(ctx context.Context, rec *recorder) *flowError {
	_, body, _, ferr := w.q.call(ctx, rec, epRefresh, "", jsonObject("refresh_token", w.refreshToken), http.StatusOK)
	if ferr == nil && !jsonStrings(body, keysRefresh, w.out[:2]) {
		ferr = &flowError{ep: epRefresh, reason: "malformed response"}
		rec.invalid(epRefresh)
	}
	if ferr == nil {
		switch {
		case w.out[0] == "":
			ferr = &flowError{ep: epRefresh, reason: "no access_token in the response"}
		case w.out[1] == "":
			ferr = &flowError{ep: epRefresh, reason: "no refresh_token in the response"}
		case w.out[1] == w.refreshToken:
			ferr = &flowError{ep: epRefresh, reason: "the refresh token was not rotated"}
		}
		if ferr != nil {
			rec.invalid(epRefresh)
		}
	}
	if ferr != nil {
		w.refreshToken = ""
		return ferr
	}
	w.refreshToken = w.out[1]
	return nil
}

// tokens checks an authenticate response for all four tokens and, when
// logout is set, ends the session.
func (w *worker) tokens(ctx context.Context, rec *recorder, ep endpoint, body []byte, logout bool) ([4]string, *flowError) {
	var t [4]string
	if !jsonStrings(body, keysTokens, t[:]) {
		rec.invalid(ep)
		return t, &flowError{ep: ep, reason: "malformed response"}
	}
	for i, v := range t {
		if v == "" {
			rec.invalid(ep)
			return t, &flowError{ep: ep, reason: "no " + keysTokens[i] + " in the response"}
		}
	}
	if logout {
		if ferr := w.logout(ctx, rec, t[3]); ferr != nil {
			return t, ferr
		}
	}
	return t, nil
}

// logout ends a session.
func (w *worker) logout(ctx context.Context, rec *recorder, session string) *flowError {
	_, _, _, ferr := w.q.call(ctx, rec, epLogout, "", jsonObject("session_id", session), http.StatusNoContent)
	return ferr
}

// field returns a string member the response must have.
func (w *worker) field(rec *recorder, ep endpoint, body []byte, key []string) (string, *flowError) {
	if !jsonStrings(body, key, w.out[:1]) {
		rec.invalid(ep)
		return "", &flowError{ep: ep, reason: "malformed response"}
	}
	if w.out[0] == "" {
		rec.invalid(ep)
		return "", &flowError{ep: ep, reason: "no " + key[0] + " in the response"}
	}
	return w.out[0], nil
}

// awaitCode polls the dev inbox, with a growing pause, until a message newer
// than the last one seen for the user arrives, and returns its passcode.
func (w *worker) awaitCode(ctx context.Context, rec *recorder, user int, addr string) (string, *flowError) {
	start := w.r.s.Now()
	delay := inboxFirstPoll
	for {
		w.timer.Reset(delay)
		select {
		case <-w.timer.C:
		case <-ctx.Done():
			w.timer.Stop()
			return "", &flowError{ep: epInbox, reason: "transport: canceled"}
		}
		id, text, ferr := w.newestMessage(ctx, rec, addr)
		if ferr != nil {
			return "", ferr
		}
		if id != "" && id != w.inboxSeen[user] {
			w.inboxSeen[user] = id
			code := FindCode(text)
			if code == "" {
				rec.invalid(epInbox)
				return "", &flowError{ep: epInbox, reason: "no passcode in the message"}
			}
			return code, nil
		}
		if w.r.s.Now().Sub(start) >= inboxTimeout {
			return "", &flowError{ep: epInbox, reason: "no new message within " + inboxTimeout.String()}
		}
		delay = min(2*delay, inboxMaxPoll)
	}
}

// newestMessage returns the ID and text of the newest dev inbox message to
// addr, or nothing when there is none.
func (w *worker) newestMessage(ctx context.Context, rec *recorder, addr string) (id, text string, _ *flowError) {
	_, body, _, ferr := w.q.call(ctx, rec, epInbox, w.r.c.urls[epInbox]+"?limit=1&to="+url.QueryEscape(addr), nil, http.StatusOK)
	if ferr != nil {
		return "", "", ferr
	}
	i := skipSpace(body, 0)
	if i < len(body) && body[i] == '[' {
		i = skipSpace(body, i+1)
		if i < len(body) && body[i] == ']' {
			return "", "", nil
		}
		if jsonStrings(body[i:], keysMessage, w.out[:2]) && w.out[0] != "" {
			return w.out[0], w.out[1], nil
		}
	}
	rec.invalid(epInbox)
	return "", "", &flowError{ep: epInbox, reason: "malformed response"}
}
