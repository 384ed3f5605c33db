package metrics

import (
	"maps"
	"sync"
	"sync/atomic"
)

// children keeps what a metric vector resolved for each combination of
// label values seen, so that counting one again is a map read: no label
// hashing, no allocation, no lock. Combinations are few (every label has a
// bounded set of values), so a new one copies the map.
type children[K comparable, V any] struct {
	resolve func(K) V
	mu      sync.Mutex // serialises additions
	known   atomic.Pointer[map[K]V]
}

func newChildren[K comparable, V any](resolve func(K) V) *children[K, V] {
	c := &children[K, V]{resolve: resolve}
	c.known.Store(&map[K]V{})
	return c
}

// get returns what k resolves to, resolving it the first time.
func (c *children[K, V]) get(k K) V {
	if v, ok := (*c.known.Load())[k]; ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.known.Load()
	if v, ok := old[k]; ok {
		return v
	}
	v := c.resolve(k)
	next := maps.Clone(old)
	next[k] = v
	c.known.Store(&next)
	return v
}
