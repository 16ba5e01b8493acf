//go:build !unix

package receiptexporter

// lockDirectory is a no-op where flock is unavailable; one exporter per directory is then up to the operator.
func lockDirectory(string) (func(), error) { return func() {}, nil }
