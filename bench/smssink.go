package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Credentials the bench suggests for the server's Twilio provider. The SMS
// sink accepts any account SID and token (it checks only that the request
// is authenticated as the account of its path), but Latchkey checks their
// shape.
const (
	SMSSinkAccountSID = "AC00000000000000000000000000000000"
	SMSSinkAuthToken  = "bench"
	SMSSinkFrom       = "+15005550006"
)

// twilioAPIVersion is the Messages resource's version in the path.
const twilioAPIVersion = "2010-04-01"

// maxSMSRequest bounds a request's form; an SMS body is at most a few
// hundred characters.
const maxSMSRequest = 64 << 10

// SMSSink is a loopback HTTP server that answers Twilio's Messages API the
// way Twilio does (POST /2010-04-01/Accounts/{sid}/Messages.json, Basic
// authentication, a form with To, From or MessagingServiceSid, and Body;
// 201 with the new message resource) and keeps each message for whoever
// awaits its recipient: what a user's phone is to the bench.
type SMSSink struct {
	cfg   sinkConfig
	l     *countingListener
	srv   *http.Server
	box   *mailbox
	done  chan struct{}
	seq   atomic.Uint64 // message SIDs
	close sync.Once
}

// StartSMSSink listens on addr ("127.0.0.1:0" picks a free port) and serves
// until Close. Point Latchkey at it with LATCHKEY_SMS_PROVIDER=twilio and
// LATCHKEY_TWILIO_API_URL=http://ADDR (and the SMSSink* credentials).
// Without WithClock the messages' Arrived is zero.
func StartSMSSink(addr string, opts ...SinkOption) (*SMSSink, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: SMS sink: %w", err)
	}
	s := &SMSSink{cfg: newSinkConfig(opts), l: &countingListener{Listener: l}, done: make(chan struct{})}
	s.box = newMailbox(s.cfg.capacity)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /"+twilioAPIVersion+"/Accounts/{sid}/Messages.json", s.create)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(s.l)
	}()
	return s, nil
}

// Addr is the sink's host:port.
func (s *SMSSink) Addr() string { return s.l.Addr().String() }

// URL is the base URL to give Latchkey as LATCHKEY_TWILIO_API_URL.
func (s *SMSSink) URL() string { return "http://" + s.Addr() }

// Await returns the oldest SMS to the number `to` (E.164, as sent) that no
// Await has returned yet, waiting for one to arrive until ctx ends.
func (s *SMSSink) Await(ctx context.Context, to string) (Delivered, error) {
	return s.box.await(ctx, strings.TrimSpace(to))
}

// Connections is the number of TCP connections the sink has accepted.
func (s *SMSSink) Connections() int64 { return s.l.accepted.Load() }

// Received is the number of messages the sink has accepted.
func (s *SMSSink) Received() int64 { return s.box.received.Load() }

// Dropped is the number of messages dropped unread because the sink held
// its capacity of messages nobody awaited.
func (s *SMSSink) Dropped() int64 { return s.box.dropped.Load() }

// Close stops the server and closes its connections; pending Awaits go on
// until their contexts end.
func (s *SMSSink) Close() error {
	err := net.ErrClosed
	s.close.Do(func() {
		err = s.srv.Close()
		<-s.done
	})
	return err
}

// smsResource is Twilio's Message resource, as the create call answers it.
type smsResource struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         *string           `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         *string           `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

// create is POST /2010-04-01/Accounts/{sid}/Messages.json.
func (s *SMSSink) create(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("sid")
	if user, pass, ok := r.BasicAuth(); !ok || user != account || pass == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxSMSRequest)
	if err := r.ParseForm(); err != nil {
		twilioError(w, http.StatusBadRequest, 20001, "Invalid form: "+err.Error())
		return
	}
	to, body := r.PostForm.Get("To"), r.PostForm.Get("Body")
	from, service := r.PostForm.Get("From"), r.PostForm.Get("MessagingServiceSid")
	switch {
	case to == "":
		twilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case body == "":
		twilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case from == "" && service == "":
		twilioError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	}
	arrived := s.cfg.stamp()
	res := s.resource(account, to, body, from, service, arrived)
	s.box.deliver(Delivered{To: to, Text: body, Arrived: arrived})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(res)
}

// resource is the queued message as Twilio describes it.
func (s *SMSSink) resource(account, to, body, from, service string, at time.Time) smsResource {
	sid := fmt.Sprintf("SM%032x", s.seq.Add(1))
	uri := "/" + twilioAPIVersion + "/Accounts/" + account + "/Messages/" + sid
	res := smsResource{AccountSID: account, APIVersion: twilioAPIVersion, Body: body, Direction: "outbound-api",
		NumMedia: "0", NumSegments: "1", PriceUnit: "USD", SID: sid, Status: "queued", To: to, URI: uri + ".json",
		SubresourceURIs: map[string]string{"media": uri + "/Media.json"}}
	if !at.IsZero() {
		date := at.UTC().Format(time.RFC1123Z)
		res.DateCreated, res.DateUpdated = &date, &date
	}
	if from != "" {
		res.From = &from
	}
	if service != "" {
		res.MessagingServiceSID = &service
	}
	return res
}

// twilioError answers with Twilio's error body.
func twilioError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": message,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), "status": status})
}
