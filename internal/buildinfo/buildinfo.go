// Package buildinfo holds the build identity `make build` stamps into bin/tfocol with -ldflags -X (the commit and
// the build time); the version is the collector's BuildInfo.Version (builder-config.yaml dist.version).
package buildinfo

import "runtime/debug"

// Set by the Makefile: -X github.com/tfocol/tfocol/internal/buildinfo.Commit=... and .Time=... .
var (
	Commit = ""
	Time   = ""
)

// Read returns the commit and build time: the stamped values, else Go's VCS stamp (builds with -buildvcs), else
// "unknown".
func Read() (commit, buildTime string) {
	commit, buildTime = Commit, Time
	if info, ok := debug.ReadBuildInfo(); ok && (commit == "" || buildTime == "") {
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && commit == "":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case s.Key == "vcs.time" && buildTime == "":
				buildTime = s.Value
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	if buildTime == "" {
		buildTime = "unknown"
	}
	return commit, buildTime
}
