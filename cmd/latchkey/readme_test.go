package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/config"
)

// asLatchkey, set in a process's environment, makes the test binary run as
// the latchkey command itself, so that tests can run real `latchkey`
// processes without building the binary.
const asLatchkey = "LATCHKEY_TEST_RUN_AS_LATCHKEY"

func TestMain(m *testing.M) {
	if os.Getenv(asLatchkey) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// latchkeyIn puts an executable ./latchkey in dir that runs this test
// binary as the latchkey command, as `go build -o latchkey` would.
func latchkeyIn(t *testing.T, dir string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\n%s=1 exec '%s' \"$@\"\n", asLatchkey, self)
	if err := os.WriteFile(filepath.Join(dir, "latchkey"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// walkthroughMarker precedes each README block the walkthrough test runs.
const walkthroughMarker = "<!-- walkthrough"

// readmeWalkthrough returns the shell blocks of README.md that follow a
// walkthrough marker, in order.
func readmeWalkthrough(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	parts := strings.Split(string(raw), walkthroughMarker)
	for _, part := range parts[1:] {
		block := regexp.MustCompile("(?s)\\A[^\\n]*-->\\n```sh\\n(.*?)\\n```\\n").FindStringSubmatch(part)
		if block == nil {
			t.Fatal("a walkthrough marker in README.md is not followed by a ```sh block")
		}
		script.WriteString(block[1] + "\n")
	}
	if script.Len() == 0 {
		t.Fatal("README.md has no walkthrough block")
	}
	return script.String()
}

// startDevProcess runs `./latchkey dev` in dir as a real process, as the
// README does, and returns the export lines it prints.
func startDevProcess(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("./latchkey", "dev")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LATCHKEY_ADDR=127.0.0.1:0", "LATCHKEY_LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("latchkey dev did not stop cleanly: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("latchkey dev did not stop after SIGTERM")
		}
	})
	exports := make(chan string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "export ") {
				if lines = append(lines, sc.Text()); len(lines) == 3 {
					exports <- strings.Join(lines, "\n") + "\n"
				}
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case e := <-exports:
		return e
	case <-time.After(2 * time.Minute):
		t.Fatalf("latchkey dev printed no export lines:\n%s", stderr.String())
	}
	return ""
}

// TestREADMEWalkthrough runs the README's walkthrough as written, with
// bash and curl, against a real `latchkey dev` process in a fresh
// directory: the only edit is the one the README asks for, pasting the
// export lines that `latchkey dev` printed.
func TestREADMEWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's walkthrough needs %s, which is not installed", tool)
		}
	}
	script := readmeWalkthrough(t)
	dir := t.TempDir()
	latchkeyIn(t, dir)
	exports := startDevProcess(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", exports+script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's walkthrough failed: %v\n%s", err, out)
	}
	tokens := regexp.MustCompile(`"access_token":"eyJ[^"]+","id_token":"eyJ[^"]+","refresh_token":"[^"]+","token_type":"Bearer"`).FindAllString(string(out), -1)
	if len(tokens) != 3 || !strings.Contains(string(out), "Signed users in by email code, SMS code and magic link.") {
		t.Fatalf("the walkthrough did not sign in by each of the three methods:\n%s", out)
	}

	// A placeholder left in stops the run with the server's own answer.
	bad := strings.Replace(exports, "LATCHKEY_CLIENT_SECRET=", "LATCHKEY_CLIENT_SECRET=CLIENT_SECRET", 1)
	cmd = exec.CommandContext(ctx, "bash", "-c", bad+script)
	cmd.Dir, cmd.Env = dir, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "invalid_client") || strings.Contains(string(out), "OTP sent") {
		t.Fatalf("a wrong secret: %v\n%s\nwant the run stopped at step 1 with invalid_client", err, out)
	}
}

// TestREADMEListsEveryVariable keeps the README's configuration tables
// and `latchkey serve --help` (config.Vars) naming the same variables.
func TestREADMEListsEveryVariable(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars {
		if !strings.Contains(string(raw), "`"+v.Name+"`") {
			t.Errorf("README.md does not list %s, which latchkey serve --help does", v.Name)
		}
	}
}
