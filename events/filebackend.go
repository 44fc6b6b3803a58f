package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultFileKeep is how many delivered (or dropped, or never sent) events the
// file keeps for polling; undelivered events are always kept.
const DefaultFileKeep = 1000

// FileBackend keeps events in one JSON file, rewritten atomically (temp file,
// fsync, rename, fsync of the directory) at mode 0600 on every change. It is for
// one process (the file store's single replica). It is safe for concurrent use.
type FileBackend struct {
	path  string
	now   func() time.Time
	keepN int

	mu      sync.Mutex
	st      fileState
	deliver bool            // startDelivery was called: new events start pending
	handed  map[string]bool // undelivered events fetch has handed out since the start
}

// fileState is the file's content.
type fileState struct {
	Last   string      `json:"last_id"`
	Events []fileEntry `json:"events"` // oldest first
	// Once holds the accounts' once marks (account.refresh_token_expiring).
	Once map[string]string `json:"once,omitempty"`
}

type fileEntry struct {
	Event json.RawMessage `json:"event"`
	State DeliveryState   `json:"state"`
	ev    Event
}

// FileFor is the events file beside a token file: tokens.json → tokens.events.json.
func FileFor(tokenFile string) string {
	ext := filepath.Ext(tokenFile)
	return strings.TrimSuffix(tokenFile, ext) + ".events" + ext
}

// OpenFileBackend reads the file at path (a missing file is an empty log). now is
// the clock of event ids (nil: time.Now); keep bounds the delivered events kept
// (≤ 0: DefaultFileKeep).
func OpenFileBackend(path string, now func() time.Time, keep int) (*FileBackend, error) {
	if now == nil {
		now = time.Now
	}
	if keep <= 0 {
		keep = DefaultFileKeep
	}
	b := &FileBackend{path: path, now: now, keepN: keep, handed: map[string]bool{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return b, nil
	case err != nil:
		return nil, fmt.Errorf("events file: %w", err)
	}
	if err := json.Unmarshal(data, &b.st); err != nil {
		return nil, fmt.Errorf("events file %s: %w", path, err)
	}
	for i := range b.st.Events {
		if err := json.Unmarshal(b.st.Events[i].Event, &b.st.Events[i].ev); err != nil {
			return nil, fmt.Errorf("events file %s: %w", path, err)
		}
	}
	if _, ok := parseID(b.st.Last); !ok {
		return nil, fmt.Errorf("events file %s: bad last_id", path)
	}
	return b, nil
}

func (b *FileBackend) append(_ context.Context, e Event, once string) (Event, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if once != "" && b.st.Once[e.Account] == once {
		return e, false, nil
	}
	last, _ := parseID(b.st.Last)
	e.ID = nextID(last, b.now()).String()
	raw, err := json.Marshal(e)
	if err != nil {
		return e, false, err
	}
	prev := b.st
	next := prev
	next.Last = e.ID
	next.Events = append(slices.Clip(prev.Events), fileEntry{Event: raw, State: StateNone, ev: e})
	if b.deliver {
		next.Events[len(next.Events)-1].State = StatePending
	}
	if once != "" {
		next.Once = cloneMap(prev.Once)
		next.Once[e.Account] = once
	}
	next.Events = trim(next.Events, b.keepN)
	if err := b.write(next); err != nil {
		return e, false, err
	}
	b.st = next
	return e, true, nil
}

func (b *FileBackend) forget(_ context.Context, account string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.st.Once[account]; !ok {
		return nil
	}
	next := b.st
	next.Once = cloneMap(b.st.Once)
	delete(next.Once, account)
	if err := b.write(next); err != nil {
		return err
	}
	b.st = next
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// trim drops the oldest settled events beyond keep; pending ones stay.
func trim(evs []fileEntry, keep int) []fileEntry {
	settled := 0
	for _, e := range evs {
		if e.State != StatePending {
			settled++
		}
	}
	if settled <= keep {
		return evs
	}
	drop := settled - keep
	out := make([]fileEntry, 0, len(evs)-drop)
	for _, e := range evs {
		if drop > 0 && e.State != StatePending {
			drop--
			continue
		}
		out = append(out, e)
	}
	return out
}

func (b *FileBackend) list(_ context.Context, after eventID, limit int) ([]Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, _ := slices.BinarySearchFunc(b.st.Events, after, func(e fileEntry, t eventID) int {
		id, _ := parseID(e.ev.ID)
		switch {
		case id.less(t):
			return -1
		case t.less(id):
			return 1
		}
		return 0
	})
	var out []Event
	for ; i < len(b.st.Events) && len(out) < limit; i++ {
		if e := b.st.Events[i].ev; e.ID != after.String() {
			out = append(out, e)
		}
	}
	return out, nil
}

func (b *FileBackend) recent(_ context.Context, limit int) ([]Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Entry
	for i := len(b.st.Events) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, Entry{Event: b.st.Events[i].ev, State: b.st.Events[i].State})
	}
	return out, nil
}

func (b *FileBackend) startDelivery(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver = true
	return nil
}

func (b *FileBackend) fetch(_ context.Context, limit int) ([]Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Event
	for _, e := range b.st.Events {
		if len(out) == limit {
			break
		}
		if e.State == StatePending && !b.handed[e.ev.ID] {
			b.handed[e.ev.ID] = true
			out = append(out, e.ev)
		}
	}
	return out, nil
}

func (b *FileBackend) finish(_ context.Context, id string, state DeliveryState) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.st.Events, func(e fileEntry) bool { return e.ev.ID == id })
	if i < 0 {
		return nil
	}
	next := b.st
	next.Events = slices.Clone(b.st.Events)
	next.Events[i].State = state
	next.Events = trim(next.Events, b.keepN)
	if err := b.write(next); err != nil {
		return err
	}
	b.st = next
	delete(b.handed, id)
	return nil
}

func (b *FileBackend) keep(context.Context, []string) ([]string, error) { return nil, nil }

func (b *FileBackend) tidy(context.Context, time.Duration) (int, error) { return 0, nil }

func (b *FileBackend) oldestUndelivered(context.Context) (time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.st.Events {
		if e.State == StatePending {
			return e.ev.Time, nil
		}
	}
	return time.Time{}, nil
}

// tryLock always succeeds: one process uses the file.
func (b *FileBackend) tryLock(context.Context, string, time.Duration) (bool, error) { return true, nil }

func (b *FileBackend) unlock(context.Context, string) error { return nil }

// write replaces the file with st: temp file, fsync, rename, fsync of the directory.
func (b *FileBackend) write(st fileState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	dir := filepath.Dir(b.path)
	f, err := os.CreateTemp(dir, filepath.Base(b.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("events file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("events file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("events file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("events file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("events file: %w", err)
	}
	if err := os.Rename(tmp, b.path); err != nil {
		return fmt.Errorf("events file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
