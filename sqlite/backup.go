package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Backup writes a consistent copy of the database to path, which must not
// exist, while the server goes on: VACUUM INTO reads one snapshot (a read
// transaction, which WAL lets run beside the writer) into a new, compact
// file. The file is created first, empty and readable by its owner only,
// so the copy of the hashes and sealed keys is never readable by others;
// on failure it is removed.
func (s *Store) Backup(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("sqlite: backup: %s exists; choose a new file", path)
	}
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if _, err := s.read.DB.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		os.Remove(path)
		return fmt.Errorf("sqlite: backup: %w", translate(err))
	}
	return nil
}
