package heartbeatreceiver

import (
	"context"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
)

// sysCollector collects seed 001's systemInfo with gopsutil. It keeps the previous CPU times, so cpuUsage is the
// utilisation since the previous heartbeat (since boot for the first one).
type sysCollector struct {
	prevCPU *cpu.TimesStat
	// readFile is os.ReadFile; tests replace it.
	readFile func(string) ([]byte, error)
}

func newSysCollector() *sysCollector { return &sysCollector{readFile: os.ReadFile} }

// collect fills body with every field it can read; a failing source leaves its fields out (every system
// field but the ones host_heartbeat.v1 requires is optional, and those are always set).
func (s *sysCollector) collect(ctx context.Context, body map[string]any) {
	body["os"] = runtime.GOOS
	body["architecture"] = runtime.GOARCH
	body["uptime"] = int64(0)
	body["cpuCores"] = int64(runtime.NumCPU())
	body["cpuUsage"] = 0.0
	body["memoryTotal"], body["memoryUsed"], body["memoryUsage"] = int64(0), int64(0), 0.0

	// Host.
	if hi, err := host.InfoWithContext(ctx); err == nil {
		setStr(body, "hostname", hi.Hostname)
		setStr(body, "osVersion", hi.PlatformVersion)
		setStr(body, "platform", hi.Platform)
		setStr(body, "platformFamily", hi.PlatformFamily)
		setStr(body, "kernelVersion", hi.KernelVersion)
		body["uptime"] = i64(hi.Uptime)
		body["bootTime"] = i64(hi.BootTime)
		s.detectVirtualization(body, hi.VirtualizationSystem, hi.VirtualizationRole)
	}
	if tz, _ := timezone(); tz != "" {
		body["timezone"] = tz
	}

	// CPU.
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		setStr(body, "cpuModel", strings.TrimSpace(infos[0].ModelName))
		setStr(body, "cpuVendor", infos[0].VendorID)
		if infos[0].Mhz > 0 {
			body["cpuMhz"] = round2(infos[0].Mhz)
		}
		if infos[0].CacheSize > 0 {
			body["cpuCacheSize"] = int64(infos[0].CacheSize)
		}
	}
	if n, err := cpu.CountsWithContext(ctx, true); err == nil && n > 0 {
		body["cpuCores"] = int64(n)
		body["cpuLogicalCores"] = int64(n)
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil && n > 0 {
		body["cpuPhysicalCores"] = int64(n)
	}
	if ts, err := cpu.TimesWithContext(ctx, false); err == nil && len(ts) > 0 {
		s.cpuPercents(body, ts[0])
	}
	if la, err := load.AvgWithContext(ctx); err == nil {
		body["loadAvg1"], body["loadAvg5"], body["loadAvg15"] = round2(nonNeg(la.Load1)), round2(nonNeg(la.Load5)), round2(nonNeg(la.Load15))
	}

	// Memory and swap.
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		body["memoryTotal"] = i64(vm.Total)
		body["memoryUsed"] = i64(vm.Used)
		body["memoryAvailable"] = i64(vm.Available)
		body["memoryFree"] = i64(vm.Free)
		body["memoryUsage"] = pct(vm.UsedPercent)
		body["memoryCached"] = i64(vm.Cached)
		body["memoryBuffers"] = i64(vm.Buffers)
		body["memoryActive"] = i64(vm.Active)
		body["memoryInactive"] = i64(vm.Inactive)
		body["memorySlab"] = i64(vm.Slab)
		if runtime.GOOS == "darwin" {
			body["memoryWired"] = i64(vm.Wired)
		}
	}
	if sw, err := mem.SwapMemoryWithContext(ctx); err == nil {
		body["swapTotal"] = i64(sw.Total)
		body["swapUsed"] = i64(sw.Used)
		body["swapFree"] = i64(sw.Free)
		body["swapUsage"] = pct(sw.UsedPercent)
		body["swapIn"] = i64(sw.Sin)
		body["swapOut"] = i64(sw.Sout)
	}

	// Disk: the file system holding the root directory, and I/O summed over all devices.
	if du, err := disk.UsageWithContext(ctx, rootPath()); err == nil {
		body["diskTotal"] = i64(du.Total)
		body["diskUsed"] = i64(du.Used)
		body["diskAvailable"] = i64(du.Free)
		body["diskUsage"] = pct(du.UsedPercent)
		body["diskInodes"] = i64(du.InodesTotal)
	}
	if parts, err := disk.PartitionsWithContext(ctx, false); err == nil {
		body["diskPartitionCount"] = int64(len(parts))
	}
	if io, err := disk.IOCountersWithContext(ctx); err == nil {
		var rb, wb, rc, wc, iot uint64
		for _, c := range io {
			rb, wb, rc, wc, iot = rb+c.ReadBytes, wb+c.WriteBytes, rc+c.ReadCount, wc+c.WriteCount, iot+c.IoTime
		}
		body["diskReadBytes"], body["diskWriteBytes"] = i64(rb), i64(wb)
		body["diskReadOps"], body["diskWriteOps"] = i64(rc), i64(wc)
		body["diskIOTime"] = i64(iot)
	}

	// Network: all interfaces summed, TCP connection count from the kernel's counters (no per-socket walk).
	if nc, err := net.IOCountersWithContext(ctx, false); err == nil && len(nc) > 0 {
		c := nc[0]
		body["networkBytesSent"], body["networkBytesRecv"] = i64(c.BytesSent), i64(c.BytesRecv)
		body["networkPacketsSent"], body["networkPacketsRecv"] = i64(c.PacketsSent), i64(c.PacketsRecv)
		body["networkErrorsIn"], body["networkErrorsOut"] = i64(c.Errin), i64(c.Errout)
		body["networkDropsIn"], body["networkDropsOut"] = i64(c.Dropin), i64(c.Dropout)
	}
	if ifs, err := net.InterfacesWithContext(ctx); err == nil {
		body["networkInterfaceCount"] = int64(len(ifs))
	}
	if pc, err := net.ProtoCountersWithContext(ctx, []string{"tcp"}); err == nil && len(pc) > 0 {
		if v, ok := pc[0].Stats["CurrEstab"]; ok && v >= 0 {
			body["tcpConnectionsEstablished"] = v
		}
	}

	// Processes.
	if pids, err := process.PidsWithContext(ctx); err == nil {
		body["processCount"] = int64(len(pids))
	}
	if misc, err := load.MiscWithContext(ctx); err == nil {
		body["processRunning"] = int64(max(misc.ProcsRunning, 0))
		body["processBlocked"] = int64(max(misc.ProcsBlocked, 0))
		if runtime.GOOS == "linux" {
			body["threadCount"] = int64(max(misc.ProcsTotal, 0)) // kernel scheduling entities: threads
			body["contextSwitches"] = int64(max(misc.Ctxt, 0))
		}
	}

	// System resources (Linux).
	if runtime.GOOS == "linux" {
		if f := s.procInts("/proc/sys/fs/file-nr"); len(f) == 3 && f[2] > 0 {
			open := f[0] - f[1]
			body["openFileDescriptors"], body["maxFileDescriptors"] = open, f[2]
			body["fileDescriptorsUsage"] = pct(float64(open) * 100 / float64(f[2]))
		}
		if f := s.procInts("/proc/sys/kernel/random/entropy_avail"); len(f) == 1 {
			body["entropyAvailable"] = f[0]
		}
	}
}

func (s *sysCollector) cpuPercents(body map[string]any, t cpu.TimesStat) {
	prev := cpu.TimesStat{}
	if s.prevCPU != nil {
		prev = *s.prevCPU
	}
	s.prevCPU = &t
	total := cpuTotal(t) - cpuTotal(prev)
	if total <= 0 {
		return
	}
	share := func(cur, old float64) float64 { return pct((cur - old) * 100 / total) }
	idle := share(t.Idle, prev.Idle)
	iowait := share(t.Iowait, prev.Iowait)
	body["cpuUsage"] = pct(100 - idle - iowait)
	body["cpuUserPercent"] = share(t.User+t.Nice, prev.User+prev.Nice)
	body["cpuSystemPercent"] = share(t.System+t.Irq+t.Softirq, prev.System+prev.Irq+prev.Softirq)
	body["cpuIdlePercent"] = idle
	body["cpuIowaitPercent"] = iowait
	body["cpuStealPercent"] = share(t.Steal, prev.Steal)
}

func cpuTotal(t cpu.TimesStat) float64 {
	return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
}

// containerSystems are the gopsutil virtualization systems that mean "in a container" (role guest); the rest
// of a guest's systems are hypervisors.
var containerSystems = map[string]string{"docker": "docker", "podman": "podman", "lxc": "", "rkt": "", "openvz": "", "systemd-nspawn": "", "wsl": ""}

func (s *sysCollector) detectVirtualization(body map[string]any, system, role string) {
	isContainer := false
	runtimeName := ""
	if role == "guest" {
		if rt, ok := containerSystems[system]; ok {
			isContainer, runtimeName = true, rt
		} else if system != "" {
			body["isVirtualized"] = true
			body["virtualizationType"] = system
		}
	}
	if !isContainer && runtime.GOOS == "linux" {
		// What gopsutil does not look for: podman's marker file and the cgroup paths of CRI runtimes.
		if _, err := os.Stat("/run/.containerenv"); err == nil {
			isContainer, runtimeName = true, "podman"
		} else if cg, err := s.readFile("/proc/1/cgroup"); err == nil {
			switch c := string(cg); {
			case strings.Contains(c, "crio-"):
				isContainer, runtimeName = true, "cri-o"
			case strings.Contains(c, "containerd") || strings.Contains(c, "cri-containerd"):
				isContainer, runtimeName = true, "containerd"
			case strings.Contains(c, "/docker/") || strings.Contains(c, "docker-"):
				isContainer, runtimeName = true, "docker"
			}
		}
	}
	if _, ok := body["isVirtualized"]; !ok {
		body["isVirtualized"] = false
	}
	body["isContainer"] = isContainer
	if runtimeName != "" {
		body["containerRuntime"] = runtimeName
	}
}

// procInts reads whitespace-separated integers from a /proc file.
func (s *sysCollector) procInts(path string) []int64 {
	data, err := s.readFile(path)
	if err != nil {
		return nil
	}
	var out []int64
	for _, f := range strings.Fields(string(data)) {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil || v < 0 {
			return nil
		}
		out = append(out, v)
	}
	return out
}

func rootPath() string {
	if runtime.GOOS == "windows" {
		if d := os.Getenv("SystemDrive"); d != "" {
			return d + `\`
		}
		return `C:\`
	}
	return "/"
}

func setStr(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func i64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func nonNeg(f float64) float64 {
	if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// pct clamps a percentage to [0, 100] with two decimals.
func pct(f float64) float64 { return round2(math.Min(nonNeg(f), 100)) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }
