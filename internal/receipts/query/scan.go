package query

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/tfocol/tfocol/internal/receipts"
)

// Match is a receipt that passed the filter.
type Match struct {
	Scroll *Scroll
	// Line is the receipt's line number in its receipt log (1-based).
	Line    int
	Time    time.Time
	Receipt *receipts.Receipt
	// Raw is the stored line, without its newline (kept only with Options.KeepRaw).
	Raw []byte
}

// Options tune Scan.
type Options struct {
	Filter Filter
	// KeepRaw keeps each match's stored line (for output that prints lines as stored).
	KeepRaw bool
	// Warn receives notes that do not stop the scan (a torn last line of a log being written).
	Warn func(msg string)
}

// Scan streams the receipt log of every scroll (several at once) and returns the receipts that pass the
// filter, ordered by time, then instance, workspace, scroll and line. A line that does not parse stops the
// scan with an error naming the file and line.
func Scan(scrolls []Scroll, opts Options) ([]Match, error) {
	results := make([][]Match, len(scrolls))
	errs := make([]error, len(scrolls))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(scrolls), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ev *Evaluator
			if opts.Filter.Expr != nil {
				ev = opts.Filter.Expr.NewEvaluator()
			}
			for i := range next {
				results[i], errs[i] = scanScroll(&scrolls[i], &opts, ev)
			}
		}()
	}
	for i := range scrolls {
		if opts.Filter.scrollMatches(scrolls[i]) {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []Match
	for _, r := range results {
		out = append(out, r...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].less(&out[j]) })
	return out, nil
}

func (m *Match) less(o *Match) bool {
	if !m.Time.Equal(o.Time) {
		return m.Time.Before(o.Time)
	}
	if m.Scroll.Instance != o.Scroll.Instance {
		return m.Scroll.Instance < o.Scroll.Instance
	}
	if m.Receipt.Workspace != o.Receipt.Workspace {
		return m.Receipt.Workspace < o.Receipt.Workspace
	}
	if m.Scroll.Dir != o.Scroll.Dir {
		return m.Scroll.Dir < o.Scroll.Dir
	}
	return m.Line < o.Line
}

func scanScroll(s *Scroll, opts *Options, ev *Evaluator) ([]Match, error) {
	path := filepath.Join(s.Dir, filepath.FromSlash(receipts.ReceiptsFile))
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Match
	selective := opts.Filter.selective()
	var sk skimmer
	err = eachLine(f, func(n int, line []byte) error {
		// A selective filter first looks at a skim of the line; only lines it keeps are decoded whole.
		if selective {
			if !gjson.ValidBytes(line) {
				return fmt.Errorf("%s line %d: %w", path, n, invalidLine(line))
			}
			// The skim and the expression only look at the line while it is in the read buffer, so it is
			// read in place (no copy per line); what a match keeps comes from the strict parse below.
			doc := gjson.Parse(unsafe.String(unsafe.SliceData(line), len(line)))
			lite := sk.skim(doc, &opts.Filter)
			if !opts.Filter.matches(*s, lite, Time(lite)) {
				return nil
			}
			if ev != nil {
				ok, err := ev.match(doc)
				if err != nil {
					return fmt.Errorf("%s line %d: %w", path, n, err)
				}
				if !ok {
					return nil
				}
			}
		}
		r, err := receipts.ParseReceipt(line)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", path, n, err)
		}
		t := Time(r)
		if !opts.Filter.matches(*s, r, t) {
			return nil
		}
		m := Match{Scroll: s, Line: n, Time: t, Receipt: r}
		if opts.KeepRaw {
			m.Raw = bytes.Clone(line)
		}
		out = append(out, m)
		return nil
	}, func(torn int) {
		if opts.Warn != nil {
			opts.Warn(fmt.Sprintf("%s: last line is incomplete (%d bytes without newline; being written, or torn by a crash: `tfocol receipts verify` tells), skipped", path, torn))
		}
	})
	return out, err
}

// invalidLine explains why a line is not JSON, in the strict parser's words.
func invalidLine(line []byte) error {
	if _, err := receipts.ParseReceipt(line); err != nil {
		return err
	}
	return errors.New("receipt line is not valid JSON")
}

// eachLine calls fn with every newline-terminated line (1-based number, bytes valid only during the call) and
// torn with the length of a trailing fragment without newline.
func eachLine(r io.Reader, fn func(n int, line []byte) error, torn func(int)) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var long []byte
	for n := 1; ; {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			line := chunk[:len(chunk)-1]
			if long != nil {
				line = append(long, line...)
				long = nil
			}
			if err := fn(n, line); err != nil {
				return err
			}
			n++
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, chunk...)
		case errors.Is(err, io.EOF):
			if rest := len(long) + len(chunk); rest > 0 {
				torn(rest)
			}
			return nil
		default:
			return err
		}
	}
}
