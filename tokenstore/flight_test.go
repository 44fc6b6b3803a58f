package tokenstore

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

func TestFlightsRunOneAtATime(t *testing.T) {
	var g flights
	f, started := g.begin()
	if !started {
		t.Fatal("the first begin did not start a flight")
	}
	if f2, started := g.begin(); started || f2 != f {
		t.Fatal("a second flight started while one runs")
	}
	if g.beginIf(func() bool { return true }) != nil {
		t.Fatal("beginIf started a flight while one runs")
	}
	cred := NewCredential("a", time.Time{}, "")
	g.finish(f, cred, nil, trace.SpanContext{})
	select {
	case <-f.done:
	default:
		t.Fatal("finish did not release the waiters")
	}
	if f.cred != cred {
		t.Fatal("the waiters do not see the result")
	}
	if g.beginIf(func() bool { return false }) != nil {
		t.Fatal("beginIf started a flight although its condition failed")
	}
	if f3, started := g.begin(); !started || f3 == f {
		t.Fatal("no new flight after finish")
	}
}
