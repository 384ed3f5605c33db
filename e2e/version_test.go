package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionNamesTheCommit builds latchkey from a clone of this checkout's
// commit, as a release build would be made, and runs `latchkey version`:
// it names that commit and its date. (Go stamps nothing from a git
// worktree or with -buildvcs=false, so the shared binary may not carry it.)
func TestVersionNamesTheCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds latchkey once more")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout to build from: %v", err)
	}
	commit := strings.TrimSpace(string(head))
	top, _ := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("git", "clone", "--quiet", "--no-checkout", strings.TrimSpace(string(top)), "src")
	dir = filepath.Join(dir, "src")
	run("git", "checkout", "--quiet", commit)
	run("go", "build", "-o", "latchkey", "./cmd/latchkey")
	out, err := exec.Command(filepath.Join(dir, "latchkey"), "version").Output()
	if err != nil {
		t.Fatalf("latchkey version: %v", err)
	}
	if !strings.HasPrefix(string(out), "latchkey ") || !strings.Contains(string(out), "commit   "+commit+"\n") ||
		!strings.Contains(string(out), "date     20") {
		t.Fatalf("latchkey version printed:\n%s\nwant the commit %s, unmodified, and its date", out, commit)
	}
}
