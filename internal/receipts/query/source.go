// Package query reads receipt logs for `tfocol receipts list`, `query` and `correlate`: it finds the scrolls
// under one or many directories (exporter directories with many workspaces, several replicas side by side),
// streams their receipt lines and keeps the receipts that pass a Filter. It only reads; `tfocol receipts
// verify` is what checks hashes, chains and signatures (docs/receipts.md §7).
package query

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
)

// Scroll is one workspace's receipt log as found on disk.
type Scroll struct {
	// Dir is the scroll directory.
	Dir string
	// Origin is the checkpoint origin in its ROOT, empty when ROOT is missing or unreadable.
	Origin string
	// Instance is the replica name from the origin (`<prefix>/<instance>/<workspace dir>`, docs/receipts.md
	// §10), empty for a gateway without `instance`.
	Instance string
}

// FindScrolls returns the scrolls under each of dirs (each a scroll or an exporter directory), in the order
// given, without duplicates. originPrefix is the exporter's origin setting (receipts.DefaultOriginPrefix when
// empty); it tells the instance apart from the prefix in each ROOT's origin.
func FindScrolls(dirs []string, originPrefix string) ([]Scroll, error) {
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	if originPrefix == "" {
		originPrefix = receipts.DefaultOriginPrefix
	}
	seen := map[string]bool{}
	var out []Scroll
	for _, d := range dirs {
		found, err := receipts.FindScrolls(d)
		if err != nil {
			return nil, err
		}
		for _, s := range found {
			key := s
			if abs, err := filepath.Abs(s); err == nil {
				key = abs
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			origin := readOrigin(s)
			out = append(out, Scroll{Dir: s, Origin: origin, Instance: instanceOf(origin, filepath.Base(s), originPrefix)})
		}
	}
	return out, nil
}

func readOrigin(dir string) string {
	raw, err := os.ReadFile(filepath.Join(dir, receipts.RootFile))
	if err != nil {
		return ""
	}
	f, err := checkpoint.Parse(raw, nil)
	if err != nil {
		return ""
	}
	return f.Origin
}

// instanceOf takes the replica name out of an origin `<prefix>/<instance>/<workspace dir>`. An origin that
// does not start with prefix names its instance by everything before the workspace dir.
func instanceOf(origin, wsDir, prefix string) string {
	rest, ok := strings.CutSuffix(origin, "/"+wsDir)
	if !ok || rest == prefix {
		return ""
	}
	if inst, ok := strings.CutPrefix(rest, prefix+"/"); ok {
		return inst
	}
	return rest
}

// String names the scroll in messages.
func (s Scroll) String() string {
	if s.Instance != "" {
		return fmt.Sprintf("%s (instance %s)", s.Dir, s.Instance)
	}
	return s.Dir
}
