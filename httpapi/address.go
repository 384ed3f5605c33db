package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/login"
)

// Two addresses matter to the limits, and they are worked out here.
//
// The caller's address is the machine that sent the request: the peer of
// the connection, or, when that peer is one of LATCHKEY_TRUSTED_PROXIES
// (Latchkey's own load balancers), the address they report in
// X-Forwarded-For, read from the right past every trusted hop, so that an
// address a client wrote into the header itself is never believed. The
// middleware puts it in the request's context; the token and revocation
// endpoints limit failed client authentications by it.
//
// The end user's address is the person behind an app's backend, which the
// backend may forward in the Latchkey-End-User-IP header or in Mosaic's
// client_attributes.ip_address body field (the header wins). It comes from
// the authenticated backend, so it is believed for that app's own send and
// failure limits; without it, no per-address limit applies to the app's
// sends and authentications (the caller's address is the backend's own).

// EndUserHeader is the header an app's backend forwards its end user's IP
// address in.
const EndUserHeader = "Latchkey-End-User-IP"

// callerAddress returns the request's caller, set by the middleware; the
// zero Addr when unknown.
func callerAddress(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(callerKey).(netip.Addr)
	return a
}

// caller works out the address of the machine that sent r.
func (h *handler) caller(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !h.trusted(addr) {
		return addr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for _, hop := range slices.Backward(hops) {
		a, ok := parseHop(hop)
		if !ok {
			return addr // a hop a trusted proxy would not write: stop believing
		}
		addr = a
		if !h.trusted(a) {
			return a
		}
	}
	return addr
}

// parseHop reads one X-Forwarded-For entry: an address, perhaps with a
// port.
func parseHop(hop string) (netip.Addr, bool) {
	hop = strings.TrimSpace(hop)
	if a, err := netip.ParseAddr(hop); err == nil {
		return a.WithZone("").Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().WithZone("").Unmap(), true
	}
	return netip.Addr{}, false
}

// trusted reports whether a is one of the trusted proxies.
func (h *handler) trusted(a netip.Addr) bool {
	for _, p := range h.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// endUserAddress returns the end user's address the backend forwarded, or
// the zero Addr when it forwarded none. A value that is not an IP address
// is a 400.
func endUserAddress(r *http.Request, attrs *login.ClientAttributes) (netip.Addr, error) {
	values, field := r.Header.Values(EndUserHeader), EndUserHeader
	if len(values) == 0 && attrs != nil && attrs.IPAddress != "" {
		values, field = []string{attrs.IPAddress}, "client_attributes.ip_address"
	}
	if len(values) == 0 {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(strings.TrimSpace(values[0]))
	if err != nil || len(values) > 1 {
		return netip.Addr{}, latchkey.Errorf(latchkey.CodeInvalid, "%s must be one IP address", field)
	}
	return a.WithZone("").Unmap(), nil
}
