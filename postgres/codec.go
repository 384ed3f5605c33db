package postgres

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Small conversions between Go values and the column encodings, the same as
// the sqlite package's: Unix milliseconds for times and durations, JSON
// text for lists and documents, NULL for an empty unique value.

func ms(t time.Time) int64 { return latchkey.Millis(t) }

func fromMS(v int64) time.Time { return latchkey.FromMillis(v) }

func durMS(d time.Duration) int64 { return d.Milliseconds() }

func msDur(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

// nullIfEmpty stores an empty unique value as NULL, which UNIQUE ignores.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// deref reads a nullable column back: NULL is "".
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func encodeJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("postgres: encode: %w", err)
	}
	return string(b), nil
}

func decodeJSON(s string, v any) error {
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("postgres: decode: %w", err)
	}
	return nil
}

// rawOrEmpty stores a raw JSON document, or "" for none.
func rawOrEmpty(r json.RawMessage) string {
	if len(r) == 0 {
		return ""
	}
	return string(r)
}

// emptyRaw turns "" back into a nil document.
func emptyRaw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// placeholders returns n comma-separated parameters starting at $from.
func placeholders(from, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(p, ", ")
}

// assignments returns "a = $1, b = $2, ..." for an UPDATE's SET clause.
func assignments(cols []string) string {
	p := make([]string, len(cols))
	for i, c := range cols {
		p[i] = c + " = $" + strconv.Itoa(i+1)
	}
	return strings.Join(p, ", ")
}

// sqlLimit mirrors SQLite's LIMIT, where a negative limit means none:
// PostgreSQL refuses a negative LIMIT but reads LIMIT NULL as no limit.
func sqlLimit(n int) any {
	if n < 0 {
		return nil
	}
	return n
}

// sqlOffset mirrors SQLite's OFFSET, which reads a negative offset as 0;
// PostgreSQL would refuse it.
func sqlOffset(n int) int { return max(n, 0) }

// bytesOrEmpty stores a missing byte string as an empty one, for columns
// that are NOT NULL.
func bytesOrEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
