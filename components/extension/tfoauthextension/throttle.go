package tfoauthextension

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// throttle blocks a client address or key id for a window after too many authentication failures in that window.
// Lookups on the accepted path are read-only; counters are bounded by an LRU so a flood of random ids or
// addresses cannot grow memory.
type throttle struct {
	maxFailures int
	window      time.Duration

	mu    sync.Mutex // serialises counter updates on the failure path
	addrs *lru.Cache[netip.Addr, *failureCounter]
	keys  *lru.Cache[string, *failureCounter]
}

type failureCounter struct {
	windowStart  time.Time
	failures     int
	blockedUntil atomic.Int64 // unix nanos; read without the mutex
}

func newThrottle(cfg ThrottleConfig) (*throttle, error) {
	if cfg.MaxFailures == 0 {
		return nil, nil
	}
	addrs, err := lru.New[netip.Addr, *failureCounter](cfg.MaxTracked)
	if err != nil {
		return nil, err
	}
	keys, err := lru.New[string, *failureCounter](cfg.MaxTracked)
	if err != nil {
		return nil, err
	}
	return &throttle{maxFailures: cfg.MaxFailures, window: cfg.Window, addrs: addrs, keys: keys}, nil
}

// addrBlocked returns how long addr stays blocked (0 if it is not).
func (t *throttle) addrBlocked(addr netip.Addr, now time.Time) time.Duration {
	if t == nil || !addr.IsValid() {
		return 0
	}
	c, ok := t.addrs.Peek(addr)
	return remaining(c, ok, now)
}

// keyBlocked returns how long key id stays blocked (0 if it is not).
func (t *throttle) keyBlocked(id string, now time.Time) time.Duration {
	if t == nil || id == "" {
		return 0
	}
	c, ok := t.keys.Peek(id)
	return remaining(c, ok, now)
}

func remaining(c *failureCounter, ok bool, now time.Time) time.Duration {
	if !ok {
		return 0
	}
	if d := time.Duration(c.blockedUntil.Load() - now.UnixNano()); d > 0 {
		return d
	}
	return 0
}

// recordFailure counts a failure and reports which of addr and key id became blocked by it.
func (t *throttle) recordFailure(addr netip.Addr, keyID string, now time.Time) (addrNowBlocked, keyNowBlocked bool) {
	if t == nil {
		return false, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if addr.IsValid() {
		addrNowBlocked = t.count(getOrAdd(t.addrs, addr, now), now)
	}
	if keyID != "" {
		keyNowBlocked = t.count(getOrAdd(t.keys, keyID, now), now)
	}
	return addrNowBlocked, keyNowBlocked
}

func getOrAdd[K comparable](c *lru.Cache[K, *failureCounter], k K, now time.Time) *failureCounter {
	if fc, ok := c.Get(k); ok {
		return fc
	}
	fc := &failureCounter{windowStart: now}
	c.Add(k, fc)
	return fc
}

func (t *throttle) count(c *failureCounter, now time.Time) bool {
	if now.Sub(c.windowStart) >= t.window {
		c.windowStart, c.failures = now, 0
	}
	c.failures++
	if c.failures == t.maxFailures {
		c.blockedUntil.Store(now.Add(t.window).UnixNano())
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
