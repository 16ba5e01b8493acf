package tfoauthextension

import (
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// throttle answers 429 to *failing* presentations from a source once that source has failed too often.
//
// It never refuses a credential that verifies: the credential is checked first (a constant-time SHA-256
// comparison, ~0.3 µs) and the throttle is consulted only when the check failed. That is what keeps it from being
// a lockout tool: failures sent by someone else, for a key id or from an address shared behind NAT, cannot make a
// valid key fail. Failures are counted
//
//   - per (key id, source) for wrong secrets of an existing-format key id: limit maxFailures per window;
//   - per source for every failure (unknown ids, revoked or expired keys, bad tokens, missing or malformed
//     credentials): limit maxAddrFailures per window.
//
// A source is the client address, or its /64 for IPv6 (one host controls a whole /64). Once a counter reaches its
// limit, failing presentations it covers get 429 with Retry-After for the window instead of 401. Both counter sets
// are bounded LRUs of maxTracked entries, so a flood of addresses or ids cannot grow memory; the accepted path
// does not touch them at all.
type throttle struct {
	maxFailures     int
	maxAddrFailures int
	window          time.Duration

	mu    sync.Mutex // the failure path only
	addrs *lru.Cache[netip.Addr, *failureCounter]
	pairs *lru.Cache[pairKey, *failureCounter]
	seed  maphash.Seed
}

// pairKey is a (key id, source) pair. The id is kept as a keyed 64-bit hash, so an entry's size does not depend
// on the id's length; the seed is random per process, so nobody can choose ids that collide (a collision would
// only share a counter between two ids from one source anyway).
type pairKey struct {
	source netip.Addr
	keyID  uint64
}

type failureCounter struct {
	windowStart  time.Time
	failures     int
	blockedUntil time.Time
}

// addrFailureFactor sets the per-source limit when max_failures_per_address is not configured: a source is
// allowed more failures over all ids than one (key id, source) pair, so one misconfigured agent behind a NAT
// does not turn every other failing agent's 401 into a 429.
const addrFailureFactor = 5

func newThrottle(cfg ThrottleConfig) (*throttle, error) {
	if cfg.MaxFailures == 0 {
		return nil, nil
	}
	addrs, err := lru.New[netip.Addr, *failureCounter](cfg.MaxTracked)
	if err != nil {
		return nil, err
	}
	pairs, err := lru.New[pairKey, *failureCounter](cfg.MaxTracked)
	if err != nil {
		return nil, err
	}
	maxAddr := cfg.MaxFailuresPerAddress
	if maxAddr == 0 {
		maxAddr = addrFailureFactor * cfg.MaxFailures
	}
	return &throttle{maxFailures: cfg.MaxFailures, maxAddrFailures: maxAddr, window: cfg.Window,
		addrs: addrs, pairs: pairs, seed: maphash.MakeSeed()}, nil
}

// sourceOf is the unit an address is counted as: the address itself, or its /64 for IPv6.
func sourceOf(addr netip.Addr) netip.Addr {
	if addr.Is6() && !addr.Is4In6() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}

// verdict is what the throttle says about one failed presentation.
type verdict struct {
	addrThrottled, pairThrottled   bool          // answer 429 (the address / the key id from this address)
	addrNowBlocked, pairNowBlocked bool          // this failure reached the limit (log it once)
	retryAfter                     time.Duration // when throttled
}

// failure records one failed presentation from addr (keyID is "" when the failure is not a wrong secret for a
// well-formed key id) and says whether it is to be answered 429. Failures while throttled are not counted again:
// the block ends when its window has passed, and counting starts afresh.
func (t *throttle) failure(addr netip.Addr, keyID string, now time.Time) verdict {
	var v verdict
	if t == nil || !addr.IsValid() {
		return v
	}
	src := sourceOf(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	ac := getOrAdd(t.addrs, src, now)
	var pc *failureCounter
	if keyID != "" {
		pc = getOrAdd(t.pairs, pairKey{src, maphash.String(t.seed, keyID)}, now)
	}
	if d := ac.blockedUntil.Sub(now); d > 0 {
		v.addrThrottled, v.retryAfter = true, d
	}
	if pc != nil {
		if d := pc.blockedUntil.Sub(now); d > 0 {
			v.pairThrottled, v.retryAfter = true, max(v.retryAfter, d)
		}
	}
	if v.addrThrottled || v.pairThrottled {
		return v
	}
	v.addrNowBlocked = t.count(ac, t.maxAddrFailures, now)
	if pc != nil {
		v.pairNowBlocked = t.count(pc, t.maxFailures, now)
	}
	return v
}

func getOrAdd[K comparable](c *lru.Cache[K, *failureCounter], k K, now time.Time) *failureCounter {
	if fc, ok := c.Get(k); ok {
		return fc
	}
	fc := &failureCounter{windowStart: now}
	c.Add(k, fc)
	return fc
}

// count adds a failure to c and reports whether it reached limit within the window (c is then blocked for one
// window from now).
func (t *throttle) count(c *failureCounter, limit int, now time.Time) bool {
	if now.Sub(c.windowStart) >= t.window {
		c.windowStart, c.failures = now, 0
	}
	c.failures++
	if c.failures >= limit {
		c.blockedUntil = now.Add(t.window)
		c.windowStart, c.failures = c.blockedUntil, 0
		return true
	}
	return false
}

// clientAddr extracts the peer IP from client.Info.Addr without allocating for the usual address types.
func clientAddr(a net.Addr) netip.Addr {
	var ip net.IP
	switch v := a.(type) {
	case *net.IPAddr:
		ip = v.IP
	case *net.TCPAddr:
		ip = v.IP
	case *net.UDPAddr:
		ip = v.IP
	case nil:
		return netip.Addr{}
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Addr().Unmap()
		}
		if ad, err := netip.ParseAddr(a.String()); err == nil {
			return ad.Unmap()
		}
		return netip.Addr{}
	}
	ad, _ := netip.AddrFromSlice(ip)
	return ad.Unmap()
}
