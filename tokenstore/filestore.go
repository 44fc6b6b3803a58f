package tokenstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// FileStore is the embedded store of a single instance: one JSON file, mode 0600,
// replaced atomically (temp file, fsync, rename, directory fsync) on every write.
// An exclusive lock on "<file>.lock" keeps a second process from using the same file.
type FileStore struct {
	path  string
	codec *Codec
	lock  *os.File

	mu      sync.Mutex
	records map[string]json.RawMessage
	claim   fileClaim // the validation claim (ClaimValidation)
}

// fileClaim is a claim held in memory: the file lock already keeps other processes
// away, so only the Sources of this process take turns.
type fileClaim struct {
	owner string
	until time.Time // real time
}

type fileLayout struct {
	Format   int                        `json:"format"`
	Accounts map[string]json.RawMessage `json:"accounts"`
}

// FileStoreOption configures OpenFileStore.
type FileStoreOption func(*fileStoreOptions)

type fileStoreOptions struct{ log *slog.Logger }

// WithFileStoreLogger sets the logger of the store's warnings (default: discarded).
func WithFileStoreLogger(log *slog.Logger) FileStoreOption {
	return func(o *fileStoreOptions) { o.log = log }
}

// OpenFileStore opens (or creates) the store at path. A file that cannot be parsed,
// or a record that cannot be decoded (wrong key, unknown format, or — with a sealing
// codec — a plaintext or tampered record), is an error naming the account and the
// file is left untouched. An existing file readable or writable by group or others
// is chmod'ed to 0600, with a warning naming it and its old mode.
func OpenFileStore(path string, codec *Codec, opts ...FileStoreOption) (*FileStore, error) {
	if codec == nil {
		codec = &Codec{}
	}
	o := fileStoreOptions{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("tokenstore: creating the directory of %s: %w", path, err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	if err := lockExclusive(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("tokenstore: %s is in use by another process (the file store serves one instance; use Redis for several)", path)
	}
	s := &FileStore{path: path, codec: codec, lock: lock, records: map[string]json.RawMessage{}}
	if err := restrictMode(path, o.log); err != nil {
		s.Close()
		return nil, err
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		s.Close()
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	var fl fileLayout
	if err := json.Unmarshal(data, &fl); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: token file %s: %s; the file was left as it is", ErrCorrupt, path, jsonErrText(err))
	}
	if fl.Format != FormatVersion {
		s.Close()
		return nil, fmt.Errorf("%w: token file %s has format %d, this build reads format %d; the file was left as it is", ErrCorrupt, path, fl.Format, FormatVersion)
	}
	for account, raw := range fl.Accounts {
		if _, err := codec.Decode(account, raw); err != nil {
			s.Close()
			return nil, fmt.Errorf("token file %s: %w; the file was left as it is", path, err)
		}
	}
	if fl.Accounts != nil {
		s.records = fl.Accounts
	}
	return s, nil
}

// restrictMode makes an existing token file 0600 if group or others have any
// permission on it: it holds refresh tokens.
func restrictMode(path string, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	old := fi.Mode().Perm()
	if old&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("tokenstore: token file %s has mode %#o (group or others may access it) and could not be made 0600: %w", path, old, err)
	}
	log.Warn("token file was accessible to group or others; its mode is now 0600", "file", path, "old_mode", fmt.Sprintf("%#o", old))
	return nil
}

// Close releases the file lock.
func (s *FileStore) Close() error { return s.lock.Close() }

// ClaimValidation implements ValidationClaimer among the Sources of this process.
func (s *FileStore) ClaimValidation(_ context.Context, owner string, ttl time.Duration) (bool, error) {
	now := clock{}.wallNow()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claim.owner != owner && now.Before(s.claim.until) {
		return false, nil
	}
	s.claim = fileClaim{owner: owner, until: now.Add(ttl)}
	return true, nil
}

// ReleaseValidation implements ValidationClaimer.
func (s *FileStore) ReleaseValidation(_ context.Context, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claim.owner == owner {
		s.claim = fileClaim{}
	}
	return nil
}

// Get implements Store.
func (s *FileStore) Get(_ context.Context, account string) (Record, error) {
	s.mu.Lock()
	raw, ok := s.records[account]
	s.mu.Unlock()
	if !ok {
		return Record{}, ErrNotFound
	}
	return s.codec.Decode(account, raw)
}

// Put implements Store.
func (s *FileStore) Put(_ context.Context, rec Record, expect int64) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var version int64
	if raw, ok := s.records[rec.Account]; ok {
		cur, err := s.codec.Decode(rec.Account, raw)
		if err != nil {
			return Record{}, err
		}
		version = cur.Version
	}
	if version != expect {
		return Record{}, fmt.Errorf("%w: account %q is at version %d, expected %d", ErrVersionConflict, rec.Account, version, expect)
	}
	rec.Version = version + 1
	raw, err := s.codec.Encode(rec)
	if err != nil {
		return Record{}, err
	}
	old, had := s.records[rec.Account]
	s.records[rec.Account] = raw
	if err := s.save(); err != nil {
		if had {
			s.records[rec.Account] = old
		} else {
			delete(s.records, rec.Account)
		}
		return Record{}, err
	}
	return rec, nil
}

// Delete implements Store.
func (s *FileStore) Delete(_ context.Context, account string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.records[account]
	if !had {
		return nil
	}
	delete(s.records, account)
	if err := s.save(); err != nil {
		s.records[account] = old
		return err
	}
	return nil
}

// List implements Store.
func (s *FileStore) List(_ context.Context, cursor string, limit int) ([]Record, string, error) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.records))
	for id := range s.records {
		if id > cursor {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	next := ""
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	raws := make([]json.RawMessage, len(ids))
	for i, id := range ids {
		raws[i] = s.records[id]
	}
	s.mu.Unlock()
	out := make([]Record, len(ids))
	for i, id := range ids {
		rec, err := s.codec.Decode(id, raws[i])
		if err != nil {
			rec = Record{Account: id}
		}
		out[i] = rec
	}
	return out, next, nil
}

// Ping implements Store.
func (s *FileStore) Ping(context.Context) error {
	_, err := os.Stat(filepath.Dir(s.path))
	return err
}

// save writes all records to a temp file, fsyncs it, renames it over the store file
// and fsyncs the directory, so a crash leaves either the old or the new file.
func (s *FileStore) save() error {
	data, err := json.MarshalIndent(fileLayout{Format: FormatVersion, Accounts: s.records}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("tokenstore: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("tokenstore: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tokenstore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
