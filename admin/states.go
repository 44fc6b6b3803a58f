package admin

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// ErrStateNotFound: the login state is unknown, expired or already taken.
var ErrStateNotFound = errors.New("admin: login state not found")

// StateStore keeps login states (random state → account and PKCE verifier) between
// /auth/login and /auth/callback. Implementations are safe for concurrent use.
//
// With several replicas the store must be shared (Redis: SET key value PX ttl, and
// GETDEL for Take), since the callback may reach another replica than the login.
type StateStore interface {
	// Save keeps data under state for ttl.
	Save(ctx context.Context, state string, data []byte, ttl time.Duration) error
	// Take returns the data saved under state and forgets it. It returns
	// (nil, ErrStateNotFound) when state is unknown, expired or already taken. It is
	// atomic: of two concurrent Takes of one state, exactly one gets the data.
	Take(ctx context.Context, state string) ([]byte, error)
}

// DefaultMaxStates bounds a memory state store.
const DefaultMaxStates = 10000

// NewMemoryStateStore returns the StateStore of a single instance: a map bounded to
// DefaultMaxStates entries, expired entries dropped as new ones come. When full, the
// entry closest to its expiry (the oldest login) is dropped to make room, so a burst
// of logins never blocks new ones. now is the clock (nil: time.Now).
func NewMemoryStateStore(now func() time.Time) StateStore {
	return newMemoryStateStore(now, DefaultMaxStates)
}

func newMemoryStateStore(now func() time.Time, limit int) *memoryStates {
	if now == nil {
		now = time.Now
	}
	return &memoryStates{now: now, limit: limit, byState: map[string]*stateEntry{}}
}

type memoryStates struct {
	now   func() time.Time
	limit int

	mu      sync.Mutex
	byState map[string]*stateEntry
	queue   expiryHeap // the same entries, soonest expiry first
}

type stateEntry struct {
	state   string
	data    []byte
	expires time.Time
	index   int // in queue
}

func (m *memoryStates) Save(_ context.Context, state string, data []byte, ttl time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.byState[state]; ok {
		m.remove(old)
	}
	for len(m.queue) > 0 && (!m.queue[0].expires.After(now) || len(m.queue) >= m.limit) {
		m.remove(m.queue[0])
	}
	e := &stateEntry{state: state, data: append([]byte(nil), data...), expires: now.Add(ttl)}
	m.byState[state] = e
	heap.Push(&m.queue, e)
	return nil
}

func (m *memoryStates) Take(_ context.Context, state string) ([]byte, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byState[state]
	if !ok {
		return nil, ErrStateNotFound
	}
	m.remove(e)
	if !e.expires.After(now) {
		return nil, ErrStateNotFound
	}
	return e.data, nil
}

func (m *memoryStates) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byState)
}

func (m *memoryStates) remove(e *stateEntry) {
	delete(m.byState, e.state)
	heap.Remove(&m.queue, e.index)
}

// expiryHeap is a container/heap of entries ordered by expiry.
type expiryHeap []*stateEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*stateEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}
