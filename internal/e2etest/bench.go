package e2etest

// Pid returns the process id of the running collector (0 when it is not running), for reading its
// /proc entries (CPU time, peak RSS) in benchmarks.
func (c *Collector) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}
