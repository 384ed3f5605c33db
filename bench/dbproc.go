package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// A database such as PostgreSQL does its work in child processes of one
// parent (the postmaster's backends, one per connection, and its
// background workers), which come and go during a run: a server that
// opens a connection per request leaves nothing of its backends' CPU in
// any process alive at the end. What the kernel keeps is the parent's
// cutime and cstime, the CPU of the children it has reaped. So the
// database's CPU at a moment is the parent's own CPU, plus that of its
// reaped children, plus that of its live children, and the difference of
// two such samples is the CPU the database spent between them, exited
// backends included.

// procTimes is what one /proc/PID/stat tells of a process's CPU.
type procTimes struct {
	ppid                         int
	utime, stime, cutime, cstime int64 // clock ticks
}

// parseStatTimes reads the parent PID and the four CPU times from the
// contents of /proc/PID/stat, counting fields from the last closing
// parenthesis, since the command name may hold spaces and parentheses.
func parseStatTimes(raw []byte) (procTimes, error) {
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return procTimes{}, errors.New("unexpected /proc stat format")
	}
	// After the name: field 3 (state), 4 (ppid), ... 14 utime, 15 stime,
	// 16 cutime, 17 cstime.
	f := strings.Fields(string(raw[end+1:]))
	if len(f) < 15 {
		return procTimes{}, errors.New("unexpected /proc stat format")
	}
	var t procTimes
	var err error
	if t.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procTimes{}, errors.New("unexpected /proc stat format")
	}
	for i, dst := range []*int64{&t.utime, &t.stime, &t.cutime, &t.cstime} {
		v, err := strconv.ParseInt(f[11+i], 10, 64)
		if err != nil || v < 0 {
			return procTimes{}, errors.New("unexpected /proc stat format")
		}
		*dst = v
	}
	return t, nil
}

// treeCPU is the CPU time of a process and of all its children, those
// reaped included, as read from the /proc tree rooted at procRoot ("/proc").
func treeCPU(procRoot string, pid int) (time.Duration, error) {
	raw, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	parent, err := parseStatTimes(raw)
	if err != nil {
		return 0, err
	}
	ticks := parent.utime + parent.stime + parent.cutime + parent.cstime
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		raw, err := os.ReadFile(procRoot + "/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile: its CPU is in the parent's cutime now
		}
		t, err := parseStatTimes(raw)
		if err != nil || t.ppid != pid {
			continue
		}
		ticks += t.utime + t.stime + t.cutime + t.cstime
	}
	return time.Duration(ticks) * (time.Second / clockTicks), nil
}

// databaseCPU samples the database's CPU time.
func (r *runner) databaseCPU() (time.Duration, error) { return treeCPU("/proc", r.s.DatabasePID) }

// checkProcesses makes sure the server and database processes given can
// be sampled, before any load.
func (r *runner) checkProcesses() error {
	if r.s.ServerPID > 0 {
		if _, err := readProc(procPath(r.s.ServerPID)); err != nil {
			return fmt.Errorf("bench: cannot sample the server process: %w", err)
		}
	}
	if r.s.DatabasePID > 0 {
		if _, err := r.databaseCPU(); err != nil {
			return fmt.Errorf("bench: cannot sample the database process: %w", err)
		}
	}
	return nil
}
