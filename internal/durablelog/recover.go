package durablelog

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Report is what Open, Check or Repair found in a log directory.
type Report struct {
	Segments int
	Entries  uint64
	// FirstSeq and LastSeq are the first and last seq of the intact entries (0 when there are none).
	FirstSeq, LastSeq uint64
	// TornTail is the unacknowledged tail of the newest segment left by a crash (cut by Open and Repair).
	TornTail *Damage
	// Damaged lists corrupt ranges and gaps in seqs.
	Damaged []Damage
	// KeyIndexDamaged lists key index files (.keys) that failed their check and were skipped.
	KeyIndexDamaged []string
	// CursorDamaged lists cursors whose file failed its check; they restart at the oldest retained entry.
	CursorDamaged []string
	// Cursors are the cursors on disk with their lag behind the log as found.
	Cursors []CursorStats
	// Repaired says files were changed: a tail cut, a segment rewritten, a damaged file moved aside.
	Repaired bool
}

// Damage is one damaged range of a segment, or a gap in seqs (Length 0).
type Damage struct {
	Segment     string
	Offset      int64
	Length      int64
	AfterSeq    uint64 // last intact seq before the range (0: none)
	BeforeSeq   uint64 // first seq after the range (0: unknown, for a torn tail)
	LostEntries uint64 // BeforeSeq-AfterSeq-1
	SavedTo     string // where the damaged bytes were copied (Open/Repair only)
}

// Clean reports whether nothing was damaged or torn.
func (r *Report) Clean() bool {
	return r.TornTail == nil && len(r.Damaged) == 0 && len(r.KeyIndexDamaged) == 0 && len(r.CursorDamaged) == 0
}

// LostEntries is the total number of entries lost to damage.
func (r *Report) LostEntries() uint64 {
	var n uint64
	for _, d := range r.Damaged {
		n += d.LostEntries
	}
	return n
}

func (d Damage) String() string {
	s := fmt.Sprintf("%s: bytes %d+%d", d.Segment, d.Offset, d.Length)
	if d.Length == 0 {
		s = fmt.Sprintf("%s at byte %d: gap in seqs", d.Segment, d.Offset)
	}
	if d.BeforeSeq == 0 {
		return fmt.Sprintf("%s after seq %d", s, d.AfterSeq)
	}
	return fmt.Sprintf("%s between seq %d and %d, %d entries lost", s, d.AfterSeq, d.BeforeSeq, d.LostEntries)
}

const (
	segExt   = ".log"
	keysExt  = ".keys"
	tmpExt   = ".tmp"
	gapsFile = "gaps"
)

func segName(first uint64) string  { return fmt.Sprintf("%020d%s", first, segExt) }
func keysName(first uint64) string { return fmt.Sprintf("%020d%s", first, keysExt) }

// listNumbered returns the sorted numbers of files named %020d<ext> in dir.
func listNumbered(dir, ext string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ext)
		if !ok || e.IsDir() || len(base) != 20 {
			continue
		}
		id, err := strconv.ParseUint(base, 10, 64)
		if err != nil || id == 0 {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

type gap struct{ after, before uint64 }

func readGaps(dir string) []gap {
	f, err := os.Open(filepath.Join(dir, gapsFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	var gs []gap
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var g gap
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &g.after, &g.before); err == nil && g.before > g.after {
			gs = append(gs, g)
		}
	}
	return gs
}

func acknowledged(gs []gap, after, before uint64) bool {
	for _, g := range gs {
		if g.after <= after && before <= g.before {
			return true
		}
	}
	return false
}

type scanFrame struct {
	seq     uint64
	off     int64
	n       int
	arrival int64
	hasKey  bool
	key     [keySize]byte
}

type segScan struct {
	name    uint64
	size    int64
	frames  []scanFrame
	damaged []int // indexes into report.Damaged located in this segment (ranges only)
	torn    bool
}

// scan reads every segment and reports what it finds. It changes nothing.
func scan(dir string, ids []uint64, gs []gap, rep *Report) ([]*segScan, error) {
	scans := make([]*segScan, len(ids))
	var prev uint64
	var buf []byte
	for i, id := range ids {
		name := segName(id)
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if int64(cap(buf)) < fi.Size() {
			buf = make([]byte, fi.Size())
		}
		data := buf[:fi.Size()]
		_, err = readFull(f, data)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("durablelog: reading %s: %w", name, err)
		}
		s := &segScan{name: id, size: int64(len(data))}
		scans[i] = s
		// A valid frame's seq is above the previous valid seq, at least the segment's name and below the
		// next segment's name.
		lower := id - 1
		if i > 0 {
			lower = prev
		}
		upper := uint64(math.MaxUint64)
		if i+1 < len(ids) {
			upper = ids[i+1] - 1
		}
		off := 0
		badStart := -1
		for off < len(data) {
			e, n, ok := frameAt(data, off)
			if !ok || e.Seq <= lower || e.Seq < id || e.Seq > upper {
				if badStart < 0 {
					badStart = off
				}
				off = nextMagic(data, off)
				continue
			}
			if badStart >= 0 {
				rep.Damaged = append(rep.Damaged, Damage{Segment: name, Offset: int64(badStart), Length: int64(off - badStart),
					AfterSeq: lower, BeforeSeq: e.Seq, LostEntries: e.Seq - lower - 1})
				s.damaged = append(s.damaged, len(rep.Damaged)-1)
				badStart = -1
			} else if e.Seq > lower+1 && !acknowledged(gs, lower, e.Seq) {
				rep.Damaged = append(rep.Damaged, Damage{Segment: name, Offset: int64(off), AfterSeq: lower, BeforeSeq: e.Seq,
					LostEntries: e.Seq - lower - 1})
			}
			sf := scanFrame{seq: e.Seq, off: int64(off), n: n, arrival: e.Arrival, hasKey: e.HasKey, key: e.Key}
			s.frames = append(s.frames, sf)
			lower = e.Seq
			off += n
		}
		if badStart >= 0 {
			d := Damage{Segment: name, Offset: int64(badStart), Length: int64(len(data) - badStart), AfterSeq: lower}
			if i == len(ids)-1 {
				rep.TornTail = &d
				s.torn = true
			} else {
				d.BeforeSeq = ids[i+1]
				d.LostEntries = d.BeforeSeq - d.AfterSeq - 1
				rep.Damaged = append(rep.Damaged, d)
				s.damaged = append(s.damaged, len(rep.Damaged)-1)
				lower = ids[i+1] - 1
			}
		}
		prev = lower
		rep.Segments++
		rep.Entries += uint64(len(s.frames))
		if len(s.frames) > 0 {
			if rep.FirstSeq == 0 {
				rep.FirstSeq = s.frames[0].seq
			}
			rep.LastSeq = s.frames[len(s.frames)-1].seq
		}
	}
	return scans, nil
}

func readFull(f *os.File, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := f.ReadAt(p[n:], int64(n))
		n += m
		if err != nil {
			if n == len(p) {
				break
			}
			return n, err
		}
	}
	return n, nil
}

// salvage copies damaged bytes aside, cuts a torn tail and rewrites segments with only their intact frames.
func salvage(dir string, scans []*segScan, gs []gap, rep *Report, stamp int64) ([]gap, error) {
	damagedDir := filepath.Join(dir, "damaged")
	saveAside := func(name string, data []byte, off int64) (string, error) {
		if err := os.MkdirAll(damagedDir, 0o755); err != nil {
			return "", err
		}
		p := filepath.Join(damagedDir, fmt.Sprintf("%s.%d.%d", name, off, stamp))
		if err := writeFileSync(p, data); err != nil {
			return "", fmt.Errorf("durablelog: saving damaged bytes: %w", err)
		}
		return p, nil
	}
	for _, d := range rep.Damaged {
		if d.LostEntries > 0 {
			gs = append(gs, gap{d.AfterSeq, d.BeforeSeq})
		}
	}
	for _, s := range scans {
		if len(s.damaged) == 0 && !s.torn {
			continue
		}
		name := segName(s.name)
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for _, i := range s.damaged {
			d := &rep.Damaged[i]
			if d.SavedTo, err = saveAside(name, data[d.Offset:d.Offset+d.Length], d.Offset); err != nil {
				return nil, err
			}
		}
		if s.torn {
			t := rep.TornTail
			if t.SavedTo, err = saveAside(name, data[t.Offset:t.Offset+t.Length], t.Offset); err != nil {
				return nil, err
			}
		}
		if len(s.damaged) == 0 {
			// Only a torn tail: cut it in place.
			if err := truncateSync(path, rep.TornTail.Offset); err != nil {
				return nil, fmt.Errorf("durablelog: cutting torn tail of %s: %w", name, err)
			}
			s.size = rep.TornTail.Offset
			rep.Repaired = true
			continue
		}
		out := make([]byte, 0, len(data))
		for j := range s.frames {
			fr := &s.frames[j]
			chunk := data[fr.off : fr.off+int64(fr.n)]
			fr.off = int64(len(out))
			out = append(out, chunk...)
		}
		tmp := path + tmpExt
		if err := writeFileSync(tmp, out); err != nil {
			return nil, fmt.Errorf("durablelog: rewriting %s: %w", name, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
		if err := syncDir(dir); err != nil {
			return nil, err
		}
		s.size = int64(len(out))
		rep.Repaired = true
	}
	if len(rep.Damaged) > 0 {
		if err := writeGaps(dir, gs); err != nil {
			return nil, err
		}
		rep.Repaired = true
	}
	return gs, nil
}

func writeGaps(dir string, gs []gap) error {
	var b strings.Builder
	for _, g := range gs {
		fmt.Fprintf(&b, "%d %d\n", g.after, g.before)
	}
	return writeAtomic(dir, gapsFile, []byte(b.String()))
}

// corruptError describes the damage for PolicyFail.
func corruptError(dir string, rep *Report) error {
	var b strings.Builder
	for i, d := range rep.Damaged {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(rep.Damaged)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.String())
	}
	for _, k := range rep.KeyIndexDamaged {
		fmt.Fprintf(&b, "; key index %s", k)
	}
	return fmt.Errorf("%w in %s: %s (%d entries lost); run `tfocol log check --dir %s` for details and `tfocol log repair --dir %s` to salvage the intact entries",
		ErrCorrupt, dir, b.String(), rep.LostEntries(), dir, dir)
}

// Check scans the log in dir without changing it. It refuses with ErrLocked while the log is open elsewhere.
func Check(dir string) (*Report, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	unlock, err := lockDir(dir, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := recoverDir(dir, PolicySalvage, true, 0, 0)
	if err != nil {
		return nil, err
	}
	return st.rep, nil
}

// Repair opens the log with PolicySalvage, which salvages every intact entry, and closes it.
func Repair(dir string) (*Report, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	l, rep, err := Open(Options{Dir: dir, OnCorruption: PolicySalvage})
	if err != nil {
		return rep, err
	}
	return rep, l.Close()
}
