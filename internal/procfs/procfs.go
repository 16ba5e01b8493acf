// Package procfs reads what the benchmarks and the reliability tests measure of a process from Linux /proc:
// CPU time, resident memory, open file descriptors and their limit. pid 0 means the calling process.
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime/stime in /proc/<pid>/stat.
var clockTicks = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && v > 0 {
			return float64(v)
		}
	}
	return 100 // the value on every mainstream Linux build
}()

// parseStatCPU returns utime+stime (in clock ticks) from the content of /proc/<pid>/stat. The command
// name (field 2) is in parentheses and may itself contain spaces or parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(stat []byte) (ticks uint64, err error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	fields := strings.Fields(string(stat[end+1:]))
	// fields[0] is field 3 (state); utime is field 14, stime field 15.
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(fields) <= stimeIdx {
		return 0, fmt.Errorf("stat: %d fields after the command name, want > %d", len(fields), stimeIdx)
	}
	utime, err := strconv.ParseUint(fields[utimeIdx], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: utime: %w", err)
	}
	stime, err := strconv.ParseUint(fields[stimeIdx], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: stime: %w", err)
	}
	return utime + stime, nil
}

// parseStatusKB returns the value in bytes of a "Name:   123 kB" line of /proc/<pid>/status.
func parseStatusKB(status []byte, name string) (uint64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status: malformed %s line %q", name, line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status: %s: %w", name, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("status: no %s line", name)
}

// CPU is the user+system CPU time a process has used so far.
func CPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(path(pid, "stat"))
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatCPU(raw)
	if err != nil {
		return 0, err
	}
	return time.Duration(float64(ticks) / clockTicks * float64(time.Second)), nil
}

// PeakRSS is the process's high-water resident set size (VmHWM) in bytes.
func PeakRSS(pid int) (uint64, error) {
	return StatusBytes(pid, "VmHWM")
}

// OpenFDs is the number of open file descriptors of a process (entries of /proc/<pid>/fd).
func OpenFDs(pid int) (int, error) {
	entries, err := os.ReadDir(path(pid, "fd"))
	if err != nil {
		return 0, err
	}
	return len(entries), nil
}

// OpenFilesLimit is the soft RLIMIT_NOFILE of a process, from /proc/<pid>/limits (0 = unlimited).
func OpenFilesLimit(pid int) (uint64, error) {
	raw, err := os.ReadFile(path(pid, "limits"))
	if err != nil {
		return 0, err
	}
	return parseLimitsSoft(raw, "Max open files")
}

// parseLimitsSoft returns the soft limit of a row of /proc/<pid>/limits ("Max open files  1024  4096  files");
// "unlimited" is 0.
func parseLimitsSoft(limits []byte, name string) (uint64, error) {
	for line := range strings.SplitSeq(string(limits), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			return 0, fmt.Errorf("limits: malformed %q line %q", name, line)
		}
		if f[0] == "unlimited" {
			return 0, nil
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("limits: %s: %w", name, err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("limits: no %q line", name)
}

func path(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

// StatusBytes is one "kB" field of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile) in bytes.
func StatusBytes(pid int, field string) (uint64, error) {
	raw, err := os.ReadFile(path(pid, "status"))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(raw, field)
}

// ParseKB returns the value in bytes of a "Name:   123 kB" line of a /proc file (status, meminfo).
func ParseKB(content []byte, name string) (uint64, error) { return parseStatusKB(content, name) }
