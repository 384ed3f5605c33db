package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// Client authentication throttling, at the token and revocation endpoints,
// server-wide (the app is not known before its client authenticates).
//
// Failed authentications are counted per source address over a sliding
// minute; past ClientFailuresPerAddress the address is refused until its
// window allows another failure. They are also counted per client_id,
// from every address: past ClientFailuresPerClient in a minute, the
// client_id is over its budget, and an address that has itself failed for
// that client_id in the last minute is refused. An address that has not is
// still let through, so an attacker's failures never lock the client's own
// backend, presenting the right secret from its own address, out. Refused
// requests are answered before the secret is evaluated.

// CheckClient refuses a client authentication from addr (the zero Addr
// when unknown) while the address, or the address for this client_id, is
// blocked.
func (l *Limiter) CheckClient(ctx context.Context, clientID string, addr netip.Addr) error {
	cs := l.clientCounters(clientID, addr)
	waits, err := l.waits(ctx, cs)
	if err != nil || waits == nil {
		return err
	}
	address, client, pair := waits[0], waits[1], waits[2]
	switch {
	case address > 0:
		return l.refuse(ctx, serverScope, refusal{limit: ClientAuthAddress, masked: cs[0].masked, wait: address,
			what: fmt.Sprintf("at most %d failed client authentications a minute from one address", l.cfg.ClientFailuresPerAddress)})
	case client > 0 && pair > 0:
		return l.refuse(ctx, serverScope, refusal{limit: ClientAuthClient, masked: cs[1].masked, wait: min(client, pair),
			what: "this client failed to authenticate too often in the last minute, this address among others"})
	}
	return nil
}

// ClientFailed records a failed client authentication from addr.
func (l *Limiter) ClientFailed(ctx context.Context, clientID string, addr netip.Addr) error {
	return l.record(ctx, l.clientCounters(clientID, addr))
}

// clientCounters are the counters of a client authentication: the
// address's, the client_id's, and the pair's (which only remembers that
// the address failed for the client in the last minute). None without an
// address: the rule needs one.
func (l *Limiter) clientCounters(clientID string, addr netip.Addr) []counted {
	if !addr.IsValid() {
		return nil
	}
	masked := clientID
	if len(masked) > 40 {
		masked = masked[:40] + "..."
	}
	address := addressValue(addr)
	return []counted{
		{key: l.counterKey(serverScope, "client-address", address), masked: maskAddress(addr),
			windows: []window{{ClientAuthAddress, l.cfg.ClientFailuresPerAddress, time.Minute, ""}}},
		{key: l.counterKey(serverScope, "client", clientID), masked: masked,
			windows: []window{{ClientAuthClient, l.cfg.ClientFailuresPerClient, time.Minute, ""}}},
		{key: l.counterKey(serverScope, "client-address-pair", clientID+"\x00"+address), masked: masked + " " + maskAddress(addr),
			windows: []window{{ClientAuthClient, 1, time.Minute, ""}}},
	}
}
