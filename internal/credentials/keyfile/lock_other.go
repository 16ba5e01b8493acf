//go:build !unix

package keyfile

// Lock is a no-op where flock(2) does not exist; concurrent `tfocol keys` edits are then not serialised.
func Lock(string) (func(), error) { return func() {}, nil }
