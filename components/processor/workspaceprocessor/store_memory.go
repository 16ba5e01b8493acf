package workspaceprocessor

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"
)

// memoryStore is a bounded LRU + TTL set of Idempotency-Keys held in process memory.
//
// It is built for a million keys at a few dozen bytes each, which a map of strings with a linked
// list (e.g. golang-lru's expirable cache, ~200 B/key with the key text) cannot do:
//   - a key is kept as a 128-bit hash of workspace+key (two independently seeded maphash sums), never
//     as text; with 1M keys the chance of any false duplicate is ~1e-27;
//   - entries live in pointer-free chunks the garbage collector does not scan, linked into the LRU
//     list by uint32 slot numbers;
//   - an open-addressing index of uint32 slot numbers (linear probing, backward-shift deletion)
//     finds a key's slot.
//
// In-flight leases never expire here: the process that holds one always completes or releases it,
// and a crash forgets them anyway.
type memoryStore struct {
	mu      sync.Mutex
	maxKeys int
	ttl     uint32 // seconds
	epoch   time.Time
	now     func() time.Time
	seedA   maphash.Seed
	seedB   maphash.Seed

	chunks [][]memEntry // slot n lives at chunks[n>>chunkBits][n&chunkMask]; slot 0 is the nil slot
	used   uint32       // slots handed out so far (including slot 0)
	free   uint32       // head of the free slot list, linked through next
	count  int          // live entries
	head   uint32       // most recently used
	tail   uint32       // least recently used
	index  []uint32     // open-addressing table of slot numbers, 0 = empty; len is a power of two
}

// memEntry is one remembered key: 40 bytes, no pointers.
type memEntry struct {
	key     [16]byte // 128-bit hash of workspace + key
	fp      uint64   // payload fingerprint, 0 if not checked
	prev    uint32   // towards head (more recent)
	next    uint32   // towards tail (less recent); free list link when unused
	expires uint32   // seconds since epoch, +1; 0 while in flight
	gen     uint32   // bumped on every reuse of the slot, so a stale lease cannot touch a new entry
}

const (
	chunkBits        = 12
	chunkLen         = 1 << chunkBits
	chunkMask        = chunkLen - 1
	minIndexLen      = 1 << 10
	expiredPerInsert = 2 // expired tail entries dropped per insert, so idle keys leave without a sweeper
)

func newMemoryStore(maxKeys int, ttl time.Duration) *memoryStore {
	return &memoryStore{
		maxKeys: maxKeys,
		ttl:     uint32((ttl + time.Second - 1) / time.Second),
		epoch:   time.Now(),
		now:     time.Now,
		seedA:   maphash.MakeSeed(),
		seedB:   maphash.MakeSeed(),
		used:    1,
		index:   make([]uint32, minIndexLen),
	}
}

// Begin implements idempotencyStore.
func (s *memoryStore) Begin(_ context.Context, k idemKey, fp uint64) (lease, beginStatus, error) {
	h := s.hash(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.ticks()
	if slot, pos := s.find(h); slot != 0 {
		e := s.entry(slot)
		if e.expires == 0 || e.expires > now {
			s.touch(slot)
			switch {
			case fingerprintsDiffer(e.fp, fp):
				return nil, statusMismatch, nil
			case e.expires == 0:
				return nil, statusInFlight, nil
			default:
				return nil, statusCompleted, nil
			}
		}
		s.remove(slot, pos)
	}
	slot := s.insert(h, fp, 0, now)
	return &memoryLease{store: s, slot: slot, gen: s.entry(slot).gen, key: h, fp: fp}, statusAcquired, nil
}

// Shutdown implements idempotencyStore.
func (s *memoryStore) Shutdown(context.Context) error { return nil }

// Len returns the number of remembered keys.
func (s *memoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

type memoryLease struct {
	store *memoryStore
	slot  uint32
	gen   uint32
	key   [16]byte
	fp    uint64
}

// Complete implements lease.
func (l *memoryLease) Complete(context.Context) error {
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.ticks()
	expires := now + s.ttl + 1
	if e := s.entry(l.slot); e.gen == l.gen && e.expires == 0 {
		e.expires = expires
		s.touch(l.slot)
		return nil
	}
	// The lease was evicted while in flight (the store was full of newer keys): remember the key again.
	if slot, pos := s.find(l.key); slot != 0 {
		s.remove(slot, pos)
	}
	s.insert(l.key, l.fp, expires, now)
	return nil
}

// Release implements lease.
func (l *memoryLease) Release(context.Context) error {
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entry(l.slot); e.gen == l.gen && e.expires == 0 {
		_, pos := s.find(l.key)
		s.remove(l.slot, pos)
	}
	return nil
}

func (s *memoryStore) hash(k idemKey) [16]byte {
	var out [16]byte
	var h maphash.Hash
	for i, seed := range []maphash.Seed{s.seedA, s.seedB} {
		h.SetSeed(seed)
		_, _ = h.WriteString(k.Workspace)
		_ = h.WriteByte(0)
		_, _ = h.WriteString(k.Key)
		binary.LittleEndian.PutUint64(out[i*8:], h.Sum64())
	}
	return out
}

func (s *memoryStore) ticks() uint32 {
	return uint32(s.now().Sub(s.epoch) / time.Second)
}

func (s *memoryStore) entry(slot uint32) *memEntry {
	return &s.chunks[slot>>chunkBits][slot&chunkMask]
}

func (s *memoryStore) home(key *[16]byte) int {
	return int(binary.LittleEndian.Uint64(key[:8]) & uint64(len(s.index)-1))
}

// find returns the slot holding key (0 if none) and its position in the index.
func (s *memoryStore) find(key [16]byte) (uint32, int) {
	mask := len(s.index) - 1
	for pos := s.home(&key); ; pos = (pos + 1) & mask {
		slot := s.index[pos]
		if slot == 0 || s.entry(slot).key == key {
			return slot, pos
		}
	}
}

// insert adds a new most-recent entry, evicting to stay within maxKeys. The key must be absent.
func (s *memoryStore) insert(key [16]byte, fp uint64, expires, now uint32) uint32 {
	for i := 0; i < expiredPerInsert && s.tail != 0; i++ {
		if e := s.entry(s.tail); e.expires == 0 || e.expires > now {
			break
		}
		s.evictTail()
	}
	for s.count >= s.maxKeys {
		s.evictTail()
	}
	if (s.count+1)*4 > len(s.index)*3 {
		s.growIndex()
	}
	slot := s.allocSlot()
	e := s.entry(slot)
	*e = memEntry{key: key, fp: fp, expires: expires, gen: e.gen + 1}
	_, pos := s.find(key)
	s.index[pos] = slot
	s.pushFront(slot)
	s.count++
	return slot
}

func (s *memoryStore) evictTail() {
	slot := s.tail
	_, pos := s.find(s.entry(slot).key)
	s.remove(slot, pos)
}

// remove unlinks slot (found at index position pos) and frees it.
func (s *memoryStore) remove(slot uint32, pos int) {
	s.deleteIndex(pos)
	s.unlink(slot)
	e := s.entry(slot)
	e.expires, e.prev, e.next = 0, 0, s.free
	e.gen++
	s.free = slot
	s.count--
}

// deleteIndex empties index position pos, shifting later probes back so lookups stay correct.
func (s *memoryStore) deleteIndex(pos int) {
	mask := len(s.index) - 1
	for next := (pos + 1) & mask; ; next = (next + 1) & mask {
		slot := s.index[next]
		if slot == 0 {
			break
		}
		home := s.home(&s.entry(slot).key)
		// Move the entry back into the hole unless its home lies cyclically in (pos, next].
		if (next > pos && (home <= pos || home > next)) || (next < pos && home <= pos && home > next) {
			s.index[pos] = slot
			pos = next
		}
	}
	s.index[pos] = 0
}

func (s *memoryStore) growIndex() {
	old := s.index
	s.index = make([]uint32, len(old)*2)
	mask := len(s.index) - 1
	for _, slot := range old {
		if slot == 0 {
			continue
		}
		pos := s.home(&s.entry(slot).key)
		for s.index[pos] != 0 {
			pos = (pos + 1) & mask
		}
		s.index[pos] = slot
	}
}

func (s *memoryStore) allocSlot() uint32 {
	if s.free != 0 {
		slot := s.free
		s.free = s.entry(slot).next
		return slot
	}
	if int(s.used>>chunkBits) == len(s.chunks) {
		s.chunks = append(s.chunks, make([]memEntry, chunkLen))
	}
	slot := s.used
	s.used++
	return slot
}

func (s *memoryStore) pushFront(slot uint32) {
	e := s.entry(slot)
	e.prev, e.next = 0, s.head
	if s.head != 0 {
		s.entry(s.head).prev = slot
	}
	s.head = slot
	if s.tail == 0 {
		s.tail = slot
	}
}

func (s *memoryStore) unlink(slot uint32) {
	e := s.entry(slot)
	if e.prev != 0 {
		s.entry(e.prev).next = e.next
	} else {
		s.head = e.next
	}
	if e.next != 0 {
		s.entry(e.next).prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = 0, 0
}

func (s *memoryStore) touch(slot uint32) {
	if s.head != slot {
		s.unlink(slot)
		s.pushFront(slot)
	}
}
