package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of the CPU times in /proc/PID/stat: USER_HZ, 100
// per second on every Linux platform that matters (getconf CLK_TCK).
const clockTicks = 100

// rssInterval is how often the server's memory is sampled for its peak.
const rssInterval = 250 * time.Millisecond

// procSample is what /proc tells of a process at one moment.
type procSample struct {
	cpu time.Duration // user and system CPU time since the process started
	rss int64         // resident memory, bytes
}

// procPath is the /proc directory of a process.
func procPath(pid int) string { return "/proc/" + strconv.Itoa(pid) }

// selfProc is the load tool's own /proc directory.
const selfProc = "/proc/self"

// readProc reads a process's CPU time and resident memory.
func readProc(dir string) (procSample, error) {
	cpu, err := readCPU(dir)
	if err != nil {
		return procSample{}, err
	}
	rss, err := readRSS(dir)
	if err != nil {
		return procSample{}, err
	}
	return procSample{cpu: cpu, rss: rss}, nil
}

// readCPU reads utime+stime from dir/stat.
func readCPU(dir string) (time.Duration, error) {
	raw, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStat(raw)
}

// parseStat returns utime+stime from the contents of /proc/PID/stat
// (parseStatTimes reads the fields).
func parseStat(raw []byte) (time.Duration, error) {
	t, err := parseStatTimes(raw)
	if err != nil {
		return 0, err
	}
	return time.Duration(t.utime+t.stime) * (time.Second / clockTicks), nil
}

// readRSS reads VmRSS from dir/status.
func readRSS(dir string) (int64, error) {
	raw, err := os.ReadFile(dir + "/status")
	if err != nil {
		return 0, err
	}
	return parseRSS(raw)
}

// parseRSS returns VmRSS, in bytes, from the contents of /proc/PID/status.
func parseRSS(raw []byte) (int64, error) {
	for line := range strings.SplitSeq(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			break
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS in /proc status (a kernel thread, or a zombie?)")
}
