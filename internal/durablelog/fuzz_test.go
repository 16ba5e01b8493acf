package durablelog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func FuzzRecover(f *testing.F) {
	var good []byte
	for i := 1; i <= 4; i++ {
		r := Record{Type: 1, Payload: payload(i)}
		if i%2 == 0 {
			r.HasKey, r.Key = true, key(i)
		}
		good = appendFrame(good, uint64(i), int64(i), &r)
	}
	f.Add(good)
	f.Add(good[:len(good)-5])
	mid := bytes.Clone(good)
	mid[len(mid)/2] ^= 1
	f.Add(mid)
	f.Add(append(bytes.Clone(good[:30]), good...))
	f.Add([]byte{})
	f.Add(magicBytes)
	f.Fuzz(func(t *testing.T, data []byte) {
		syncEnabled = false
		defer func() { syncEnabled = true }()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, rep, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatalf("salvage must open: %v", err)
		}
		defer l.Close()
		c, err := l.Cursor("f")
		if err != nil {
			t.Fatal(err)
		}
		var last uint64
		var n uint64
		for {
			if at, _ := c.Head(); at {
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			es, err := c.Next(ctx, 16, 1<<20)
			cancel()
			if err != nil {
				t.Fatalf("reading salvaged log: %v", err)
			}
			for _, e := range es {
				r := Record{Type: e.Type, HasKey: e.HasKey, Key: e.Key, Payload: e.Payload}
				fr := appendFrame(nil, e.Seq, e.Arrival, &r)
				if !bytes.Contains(data, fr) {
					t.Fatalf("entry %d is not an intact frame of the input", e.Seq)
				}
				if e.Seq <= last {
					t.Fatalf("seq %d after %d", e.Seq, last)
				}
				last = e.Seq
				n++
			}
		}
		if n != rep.Entries {
			t.Fatalf("read %d entries, report says %d", n, rep.Entries)
		}
	})
}

func BenchmarkAppendParallel(b *testing.B) {
	for _, g := range []int{1, 64} {
		b.Run(map[int]string{1: "goroutines=1", 64: "goroutines=64"}[g], func(b *testing.B) {
			l, _ := open(b, Options{Dir: b.TempDir()})
			p := bytes.Repeat([]byte("x"), 512)
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N/g + 1
			for w := 0; w < g; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if _, _, err := l.Append(context.Background(), Record{Payload: p}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*g)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}
