package atomicfile

// SyncDir is a no-op on Windows: a directory handle cannot be flushed there (FlushFileBuffers fails with access
// denied), and NTFS journals the rename itself.
func SyncDir(string) error { return nil }
