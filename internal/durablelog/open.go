package durablelog

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type recovered struct {
	rep         *Report
	segs        []*segment
	nextSeq     uint64
	lastArrival int64
	keys        map[[keySize]byte]uint64
	oldKeys     map[[keySize]byte]keyRec
	sidecars    []*sidecar
	cursors     map[string]uint64
}

// recoverDir scans dir. Unless readOnly it cuts a torn tail, salvages (or, with PolicyFail, refuses) corrupt
// segments, moves damaged key indexes aside and removes expired ones.
func recoverDir(dir string, policy Policy, readOnly bool, now int64, retention time.Duration) (*recovered, error) {
	rep := &Report{}
	st := &recovered{rep: rep, keys: map[[keySize]byte]uint64{}, oldKeys: map[[keySize]byte]keyRec{}, cursors: map[string]uint64{}}
	cdir := filepath.Join(dir, cursorDir)
	if !readOnly {
		for _, d := range []string{dir, cdir} {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), tmpExt) {
					os.Remove(filepath.Join(d, e.Name()))
				}
			}
		}
	}
	ids, err := listNumbered(dir, segExt)
	if err != nil {
		return nil, err
	}
	gs := readGaps(dir)
	scans, err := scan(dir, ids, gs, rep)
	if err != nil {
		return nil, err
	}
	stamp := time.Now().UnixNano()
	if !readOnly {
		if len(rep.Damaged) > 0 && policy == PolicyFail {
			return st, corruptError(dir, rep)
		}
		if len(rep.Damaged) > 0 || rep.TornTail != nil {
			if _, err := salvage(dir, scans, gs, rep, stamp); err != nil {
				return st, err
			}
		}
	}
	st.nextSeq = max(1, rep.LastSeq+1)
	for _, sc := range scans {
		s := &segment{name: sc.name, size: sc.size}
		if readOnly && sc.torn {
			s.size = rep.TornTail.Offset
		}
		for _, f := range sc.frames {
			s.add(f.seq, f.off, f.arrival, f.hasKey, f.key)
			if f.hasKey {
				st.keys[f.key] = f.seq
			}
			st.lastArrival = max(st.lastArrival, f.arrival)
		}
		st.segs = append(st.segs, s)
		st.nextSeq = max(st.nextSeq, sc.name)
	}

	keyIDs, err := listNumbered(dir, keysExt)
	if err != nil {
		return nil, err
	}
	for _, id := range keyIDs {
		name := keysName(id)
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		var keys []keyRec
		if err == nil {
			keys, err = decodeKeys(b)
		}
		if err != nil {
			rep.KeyIndexDamaged = append(rep.KeyIndexDamaged, name)
			if !readOnly {
				if os.MkdirAll(filepath.Join(dir, "damaged"), 0o755) == nil &&
					os.Rename(path, filepath.Join(dir, "damaged", fmt.Sprintf("%s.%d", name, stamp))) == nil {
					rep.Repaired = true
				}
			}
			continue
		}
		sc := &sidecar{name: id, keys: keys}
		for _, k := range keys {
			sc.lastArrival = max(sc.lastArrival, k.arrival)
			st.nextSeq = max(st.nextSeq, k.seq+1)
		}
		if !readOnly && now-sc.lastArrival > retention.Nanoseconds() {
			os.Remove(path)
			continue
		}
		for _, k := range keys {
			if _, inLog := st.keys[k.key]; !inLog {
				st.oldKeys[k.key] = k
			}
		}
		st.sidecars = append(st.sidecars, sc)
	}

	ents, err := os.ReadDir(cdir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	first := st.nextSeq
	for _, s := range st.segs {
		if s.count > 0 {
			first = s.first
			break
		}
	}
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), "~") {
			continue
		}
		name := cursorName(e.Name())
		if !ValidCursorName(name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(cdir, e.Name()))
		if err != nil {
			return nil, err
		}
		v, ok := decodeCursor(b)
		if !ok {
			rep.CursorDamaged = append(rep.CursorDamaged, name)
			v = first // redeliver rather than skip
			if !readOnly {
				if err := writeAtomic(cdir, e.Name(), encodeCursor(v)); err != nil {
					return nil, err
				}
				rep.Repaired = true
			}
		}
		st.cursors[name] = v
		st.nextSeq = max(st.nextSeq, v)
	}
	l := &Log{segs: st.segs, nextSeq: st.nextSeq}
	for name, v := range st.cursors {
		cs := CursorStats{Name: name, Committed: v, Read: v, LagBytes: l.lagBytesLocked(v)}
		if v < st.nextSeq {
			cs.LagEntries = st.nextSeq - v
		}
		rep.Cursors = append(rep.Cursors, cs)
	}
	sort.Slice(rep.Cursors, func(i, j int) bool { return rep.Cursors[i].Name < rep.Cursors[j].Name })
	return st, nil
}
