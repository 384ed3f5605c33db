package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// statLine is a /proc/PID/stat line with the given name, parent and CPU
// times (utime, stime, cutime, cstime), the other fields as the kernel
// writes them.
func statLine(pid, name, ppid, utime, stime, cutime, cstime string) string {
	return pid + " (" + name + ") S " + ppid + " 10 10 0 -1 4194560 100 0 0 0 " +
		utime + " " + stime + " " + cutime + " " + cstime + " 20 0 1 0 12345 1000000 100 18446744073709551615\n"
}

func writeProc(t *testing.T, root, pid, line string) {
	t.Helper()
	dir := filepath.Join(root, pid)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The database's CPU is its own, its reaped children's (cutime, cstime)
// and its live children's, and nothing of other processes.
func TestTreeCPU(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, "100", statLine("100", "postgres", "1", "10", "5", "300", "200"))
	writeProc(t, root, "101", statLine("101", "postgres: checkpointer ", "100", "7", "3", "0", "0"))
	writeProc(t, root, "102", statLine("102", "postgres: bench test 127.0.0.1(4242) idle", "100", "40", "20", "0", "0"))
	writeProc(t, root, "200", statLine("200", "latchkey", "1", "999", "999", "0", "0"))
	writeProc(t, root, "201", statLine("201", "sh", "200", "999", "999", "0", "0"))
	writeProc(t, root, "202", "garbage")
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := treeCPU(root, 100)
	if err != nil {
		t.Fatal(err)
	}
	// 10+5+300+200 + 7+3 + 40+20 ticks of 10 ms.
	if want := 585 * 10 * time.Millisecond; got != want {
		t.Errorf("treeCPU = %v; want %v", got, want)
	}
	if _, err := treeCPU(root, 999); err == nil {
		t.Error("treeCPU of a missing process gave no error")
	}
}

// A backend that exits between two samples moves its CPU from the live
// children to the parent's cutime and cstime, and the difference of the
// samples still counts it once.
func TestTreeCPUCountsExitedChildren(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, "100", statLine("100", "postgres", "1", "10", "5", "0", "0"))
	writeProc(t, root, "102", statLine("102", "postgres: backend", "100", "40", "20", "0", "0"))
	before, err := treeCPU(root, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The backend spent 30 more ticks, then exited and was reaped.
	if err := os.RemoveAll(filepath.Join(root, "102")); err != nil {
		t.Fatal(err)
	}
	writeProc(t, root, "100", statLine("100", "postgres", "1", "10", "5", "60", "30"))
	after, err := treeCPU(root, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := after-before, 300*time.Millisecond; got != want {
		t.Errorf("CPU between the samples = %v; want %v", got, want)
	}
}

func TestTreeCPUOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := treeCPU("/proc", os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
