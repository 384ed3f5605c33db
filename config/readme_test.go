package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEveryVariable keeps the README's configuration tables and
// Vars (what `latchkey serve --help` prints) in step: every variable
// Latchkey reads is a row of the README, with its default.
func TestREADMEListsEveryVariable(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("read the README: %v", err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		for _, name := range strings.Split(cells[1], ",") {
			rows[strings.Trim(strings.TrimSpace(name), "`")] = strings.TrimSpace(cells[2])
		}
	}
	for _, v := range Vars {
		def, ok := rows[v.Name]
		switch {
		case !ok:
			t.Errorf("%s is not a row of the README's configuration tables", v.Name)
		case v.Default != "" && plain(def) != plain(v.Default) && !strings.HasPrefix(plain(def), plain(v.Default)+" "):
			t.Errorf("the README gives %s the default %s; latchkey serve --help says %q", v.Name, def, v.Default)
		}
	}
}

// plain is a default as words, without the Markdown and punctuation the
// README and the help dress it in.
func plain(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("`", "", "(", "", ")", "", ";", "", ",", "").Replace(s)), " ")
}
