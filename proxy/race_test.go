//go:build race

package proxy_test

// raceEnabled: under the race detector sync.Pool drops items at random, so counts of
// allocations per request are not those of a normal build.
const raceEnabled = true
