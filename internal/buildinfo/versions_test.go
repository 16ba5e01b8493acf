package buildinfo

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"
)

// builder-config.yaml is the one place that names the collector version: the Makefile reads ocb's version from
// it, and both go.mod files must require collector and contrib modules at exactly its versions (a stray module at
// another version builds a distribution nobody tested).
func TestCollectorVersionInOnePlace(t *testing.T) {
	root := filepath.Join("..", "..")
	beta, stable := builderVersions(t, filepath.Join(root, "builder-config.yaml"))

	for _, name := range []string{"go.mod", filepath.Join("distributions", "tfocol", "go.mod")} {
		f := readModFile(t, filepath.Join(root, name))
		for _, r := range f.Require {
			p, v := r.Mod.Path, r.Mod.Version
			switch {
			case strings.HasPrefix(p, "github.com/open-telemetry/opentelemetry-collector-contrib/"):
				require.Equal(t, beta, v, "%s: %s", name, p)
			case strings.HasPrefix(p, "go.opentelemetry.io/collector/"):
				require.Contains(t, []string{beta, stable}, v, "%s: %s must be at %s or %s", name, p, beta, stable)
			}
		}
	}

	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`(?m)^OCB_VER\s*:=\s*\$\(shell .*builder-config\.yaml\)`), string(makefile),
		"the Makefile takes ocb's version from builder-config.yaml")
}

// builderVersions are the one beta (v0) and the one stable (v1) version the manifest's upstream gomods name.
func builderVersions(t *testing.T, path string) (beta, stable string) {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var manifest map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &manifest))
	versions := map[string][]string{}
	for kind, list := range manifest {
		entries, ok := list.([]any)
		if !ok {
			continue
		}
		for _, e := range entries {
			m, _ := e.(map[string]any)
			gomod, _ := m["gomod"].(string)
			path, version, ok := strings.Cut(gomod, " ")
			if !ok || strings.HasPrefix(path, "github.com/tfocol/") {
				continue
			}
			versions[version] = append(versions[version], kind+": "+path)
		}
	}
	require.Len(t, versions, 2, "builder-config.yaml names one beta and one stable upstream version: %v", versions)
	for v := range versions {
		if strings.HasPrefix(v, "v0.") {
			beta = v
		} else {
			stable = v
		}
	}
	require.NotEmpty(t, beta, "%v", versions)
	require.NotEmpty(t, stable, "%v", versions)
	return beta, stable
}

func readModFile(t *testing.T, path string) *modfile.File {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := modfile.Parse(path, raw, nil)
	require.NoError(t, err)
	return f
}
