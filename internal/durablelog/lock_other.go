//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package durablelog

// lockDir is a no-op where flock is not available.
func lockDir(dir string, exclusive bool) (unlock func(), err error) { return func() {}, nil }
