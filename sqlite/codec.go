package sqlite

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Small conversions between Go values and the column encodings: Unix
// milliseconds for times and durations, 0/1 for booleans, JSON text for
// lists and documents, NULL for an empty unique value.

func ms(t time.Time) int64 { return latchkey.Millis(t) }

func fromMS(v int64) time.Time { return latchkey.FromMillis(v) }

func durMS(d time.Duration) int64 { return d.Milliseconds() }

func msDur(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nullIfEmpty stores an empty unique value as NULL, which UNIQUE ignores.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func encodeJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlite: encode: %w", err)
	}
	return string(b), nil
}

func decodeJSON(s string, v any) error {
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("sqlite: decode: %w", err)
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

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// placeholders returns n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// sameValue reports whether two column values (as userRow and the like make
// them) are equal.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	default:
		return a == b
	}
}

// bytesOrEmpty stores a missing byte string as an empty one, for columns
// that are NOT NULL.
func bytesOrEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
