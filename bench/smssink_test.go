package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/twilio"
)

func startTestSMSSink(t *testing.T, opts ...SinkOption) *SMSSink {
	t.Helper()
	s, err := StartSMSSink("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Latchkey's Twilio sender accepts the sink's answer, and each message
// reaches its number's awaiter in order.
func TestSMSSinkTakesTwilioRequests(t *testing.T) {
	arrived := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := startTestSMSSink(t, WithClock(func() time.Time { return arrived }))
	sender, err := twilio.New(twilio.Config{AccountSID: SMSSinkAccountSID, AuthToken: SMSSinkAuthToken,
		From: SMSSinkFrom, APIURL: s.URL()})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"111111 is your code", "222222 is your code"} {
		if err := sender.Send(context.Background(), latchkey.Message{Channel: latchkey.ChannelSMS, To: "+12015550123", Text: text}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	for _, want := range []string{"111111", "222222"} {
		d := awaitSoon(t, s, "+12015550123")
		if FindCode(d.Text) != want || d.To != "+12015550123" || !d.Arrived.Equal(arrived) {
			t.Errorf("Await = %+v; want code %s to +12015550123 at %v", d, want, arrived)
		}
	}
	if s.Received() != 2 {
		t.Errorf("Received = %d; want 2", s.Received())
	}
}

// The answer is Twilio's: 201 with the queued message, or Twilio's error
// body.
func TestSMSSinkAnswers(t *testing.T) {
	s := startTestSMSSink(t)
	endpoint := s.URL() + "/2010-04-01/Accounts/" + SMSSinkAccountSID + "/Messages.json"
	post := func(user string, form url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, "token")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("decode: %v", err)
		}
		return resp.StatusCode, body
	}
	good := url.Values{"To": {"+12015550100"}, "From": {SMSSinkFrom}, "Body": {"hi"}}
	status, body := post(SMSSinkAccountSID, good)
	if status != http.StatusCreated || body["status"] != "queued" || body["to"] != "+12015550100" ||
		body["body"] != "hi" || !strings.HasPrefix(body["sid"].(string), "SM") {
		t.Errorf("create = %d %v", status, body)
	}
	if status, body = post("", good); status != http.StatusUnauthorized || body["code"] != 20003.0 {
		t.Errorf("no credentials = %d %v; want 401, code 20003", status, body)
	}
	if status, body = post("ACffffffffffffffffffffffffffffffff", good); status != http.StatusUnauthorized {
		t.Errorf("another account = %d %v; want 401", status, body)
	}
	if status, body = post(SMSSinkAccountSID, url.Values{"From": {SMSSinkFrom}, "Body": {"hi"}}); status != http.StatusBadRequest || body["code"] != 21604.0 {
		t.Errorf("no To = %d %v; want 400, code 21604", status, body)
	}
	if s.Received() != 1 {
		t.Errorf("Received = %d; want 1", s.Received())
	}
}
