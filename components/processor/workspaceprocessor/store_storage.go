package workspaceprocessor

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// storageStore keeps completed Idempotency-Keys in a collector storage extension (e.g. file_storage),
// so they survive a restart. Leases stay in process memory: a storage extension belongs to one
// collector process, and a restart must not leave keys stuck "in flight".
//
// Layout in the storage client:
//
//	k/<workspace>/<key>  completed record: version, fingerprint, expiry (unix ns), log sequence
//	l/<seq>              completion log, oldest first: the record key completed as number seq
//	m                    log bounds: head (oldest live seq) and tail (next seq)
//
// The storage API has no iteration or expiry, so the log drives expiry: every ttl entries are
// appended in completion order, and a sweeper deletes from the head while the head has expired or
// the log holds more than max_keys entries.
type storageStore struct {
	client   storage.Client
	ttl      time.Duration
	maxKeys  int
	now      func() time.Time
	logger   *zap.Logger
	sweepInt time.Duration

	mu     sync.Mutex
	leases map[idemKey]uint64 // in flight: fingerprint

	logMu      sync.Mutex // serializes log appends and sweeps
	head, tail uint64

	stopSweep chan struct{}
	swept     chan struct{}
	closeOnce sync.Once
}

const (
	storageRecordVersion = 1
	storageRecordLen     = 1 + 8 + 8 + 8
	storageMetaKey       = "m"
	storageClientName    = "idempotency"
	sweepBatch           = 256
)

func newStorageStoreFromHost(ctx context.Context, host component.Host, self component.ID, cfg IdempotencyConfig, logger *zap.Logger) (*storageStore, error) {
	ext, ok := host.GetExtensions()[*cfg.Storage]
	if !ok {
		return nil, fmt.Errorf("storage extension %q not found", cfg.Storage.String())
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("extension %q is not a storage extension", cfg.Storage.String())
	}
	client, err := se.GetClient(ctx, component.KindProcessor, self, storageClientName)
	if err != nil {
		return nil, fmt.Errorf("storage extension %q: %w", cfg.Storage.String(), err)
	}
	return newStorageStore(ctx, client, cfg.TTL, cfg.MaxKeys, logger, time.Now)
}

func newStorageStore(ctx context.Context, client storage.Client, ttl time.Duration, maxKeys int, logger *zap.Logger, now func() time.Time) (*storageStore, error) {
	s := &storageStore{
		client:    client,
		ttl:       ttl,
		maxKeys:   maxKeys,
		now:       now,
		logger:    logger,
		sweepInt:  min(time.Minute, max(ttl/10, time.Second)),
		leases:    make(map[idemKey]uint64),
		stopSweep: make(chan struct{}),
		swept:     make(chan struct{}),
	}
	meta, err := client.Get(ctx, storageMetaKey)
	if err != nil {
		return nil, fmt.Errorf("reading idempotency log bounds: %w", err)
	}
	if len(meta) == 16 {
		s.head, s.tail = binary.BigEndian.Uint64(meta), binary.BigEndian.Uint64(meta[8:])
	}
	go s.sweepLoop()
	return s, nil
}

func recordKey(k idemKey) string { return "k/" + k.Workspace + "/" + k.Key }

func logKey(seq uint64) string { return "l/" + strconv.FormatUint(seq, 10) }

// Begin implements idempotencyStore.
func (s *storageStore) Begin(ctx context.Context, k idemKey, fp uint64) (lease, beginStatus, error) {
	s.mu.Lock()
	if leasedFP, ok := s.leases[k]; ok {
		s.mu.Unlock()
		if fingerprintsDiffer(leasedFP, fp) {
			return nil, statusMismatch, nil
		}
		return nil, statusInFlight, nil
	}
	// Hold the lease while reading storage, so concurrent duplicates wait (in flight) rather than race.
	s.leases[k] = fp
	s.mu.Unlock()

	rec, err := s.client.Get(ctx, recordKey(k))
	if err != nil {
		s.dropLease(k)
		return nil, 0, fmt.Errorf("storage: %w", err)
	}
	if storedFP, expires, _, ok := decodeRecord(rec); ok && s.now().UnixNano() < expires {
		s.dropLease(k)
		if fingerprintsDiffer(storedFP, fp) {
			return nil, statusMismatch, nil
		}
		return nil, statusCompleted, nil
	}
	return &storageLease{store: s, key: k, fp: fp}, statusAcquired, nil
}

func (s *storageStore) dropLease(k idemKey) {
	s.mu.Lock()
	delete(s.leases, k)
	s.mu.Unlock()
}

// Shutdown implements idempotencyStore.
func (s *storageStore) Shutdown(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stopSweep)
		<-s.swept
		err = s.client.Close(ctx)
	})
	return err
}

type storageLease struct {
	store *storageStore
	key   idemKey
	fp    uint64
}

// Complete implements lease.
func (l *storageLease) Complete(ctx context.Context) error {
	s := l.store
	defer s.dropLease(l.key)
	s.logMu.Lock()
	defer s.logMu.Unlock()
	seq := s.tail
	rk := recordKey(l.key)
	err := s.client.Batch(ctx,
		storage.SetOperation(rk, encodeRecord(l.fp, s.now().Add(s.ttl).UnixNano(), seq)),
		storage.SetOperation(logKey(seq), []byte(rk)),
		storage.SetOperation(storageMetaKey, encodeMeta(s.head, seq+1)),
	)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	s.tail = seq + 1
	if s.tail-s.head > uint64(s.maxKeys) {
		_, err := s.sweepLocked(ctx)
		return err
	}
	return nil
}

// Release implements lease.
func (l *storageLease) Release(context.Context) error {
	l.store.dropLease(l.key)
	return nil
}

// sweepLoop sweeps at start (keys that expired while the collector was down) and then periodically.
func (s *storageStore) sweepLoop() {
	defer close(s.swept)
	ticker := time.NewTicker(s.sweepInt)
	defer ticker.Stop()
	for {
		if err := s.sweep(context.Background()); err != nil {
			s.logger.Warn("Sweeping expired idempotency keys failed", zap.Error(err))
		}
		select {
		case <-s.stopSweep:
			return
		case <-ticker.C:
		}
	}
}

// sweep deletes log entries from the head while they are expired or over max_keys, one batch per
// lock hold so that completions are not held up by a long sweep.
func (s *storageStore) sweep(ctx context.Context) error {
	for {
		select {
		case <-s.stopSweep:
			return nil
		default:
		}
		s.logMu.Lock()
		more, err := s.sweepLocked(ctx)
		s.logMu.Unlock()
		if err != nil || !more {
			return err
		}
	}
}

// sweepLocked sweeps up to one batch of log entries; more reports whether the next batch may hold
// more to delete.
func (s *storageStore) sweepLocked(ctx context.Context) (more bool, err error) {
	now := s.now().UnixNano()
	if s.head >= s.tail {
		return false, nil
	}
	end := min(s.tail, s.head+sweepBatch)
	gets := make([]*storage.Operation, 0, end-s.head)
	for seq := s.head; seq < end; seq++ {
		gets = append(gets, storage.GetOperation(logKey(seq)))
	}
	if err := s.client.Batch(ctx, gets...); err != nil {
		return false, err
	}
	var ops []*storage.Operation
	newHead := s.head
	for i, g := range gets {
		seq := s.head + uint64(i)
		overCapacity := s.tail-seq > uint64(s.maxKeys)
		var rec []byte
		if g.Value != nil {
			r := storage.GetOperation(string(g.Value))
			if err := s.client.Batch(ctx, r); err != nil {
				return false, err
			}
			rec = r.Value
		}
		_, expires, recSeq, ok := decodeRecord(rec)
		if ok && recSeq == seq && expires > now && !overCapacity {
			break // the oldest live entry: everything after it is newer
		}
		if ok && recSeq == seq {
			// Only the record this log entry wrote: a later completion of the same key owns a newer one.
			ops = append(ops, storage.DeleteOperation(string(g.Value)))
		}
		ops = append(ops, storage.DeleteOperation(logKey(seq)))
		newHead = seq + 1
	}
	if newHead == s.head {
		return false, nil
	}
	ops = append(ops, storage.SetOperation(storageMetaKey, encodeMeta(newHead, s.tail)))
	if err := s.client.Batch(ctx, ops...); err != nil {
		return false, err
	}
	s.head = newHead
	return newHead == end && newHead < s.tail, nil
}

func encodeRecord(fp uint64, expiresUnixNano int64, seq uint64) []byte {
	b := make([]byte, storageRecordLen)
	b[0] = storageRecordVersion
	binary.BigEndian.PutUint64(b[1:], fp)
	binary.BigEndian.PutUint64(b[9:], uint64(expiresUnixNano))
	binary.BigEndian.PutUint64(b[17:], seq)
	return b
}

func decodeRecord(b []byte) (fp uint64, expiresUnixNano int64, seq uint64, ok bool) {
	if len(b) != storageRecordLen || b[0] != storageRecordVersion {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint64(b[1:]), int64(binary.BigEndian.Uint64(b[9:])), binary.BigEndian.Uint64(b[17:]), true
}

func encodeMeta(head, tail uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, head)
	binary.BigEndian.PutUint64(b[8:], tail)
	return b
}
