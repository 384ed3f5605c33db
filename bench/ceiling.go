package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/latchkeyhq/latchkey/token"
)

// ceilingResult is the measured signing ceiling.
type ceilingResult struct {
	alg  string
	rate float64 // tokens signed per second on all cores
}

// measureCeiling measures how fast this machine signs tokens with the
// algorithm the server signs with: a login signs two (an access token and
// an ID token), so half that rate bounds the logins per second of a server
// on this machine, whatever else it does.
func measureCeiling(ctx context.Context, s *settings, tok *clientToken) (*ceilingResult, error) {
	alg, err := jwtAlg(tok.raw)
	if err != nil {
		return nil, fmt.Errorf("bench: cannot tell the server's signing algorithm from its client access token: %w", err)
	}
	if s.Progress != nil {
		fmt.Fprintf(s.Progress, "bench: measuring the signing ceiling (%s, %s)\n", alg, ceilingDuration)
	}
	rate, err := token.SigningRate(ctx, alg, ceilingDuration, s.Now, s.Rand)
	if err != nil {
		return nil, fmt.Errorf("bench: measuring the signing ceiling: %w", err)
	}
	return &ceilingResult{alg: alg, rate: rate}, nil
}

// jwtAlg reads "alg" from a compact JWT's header, which is all the tool
// needs of the token (it verifies nothing).
func jwtAlg(raw string) (string, error) {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return "", fmt.Errorf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil || h.Alg == "" {
		return "", fmt.Errorf("no alg in the header")
	}
	return h.Alg, nil
}
