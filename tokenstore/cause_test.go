package tokenstore

import (
	"strings"
	"testing"
	"time"
)

// TestCauseReadsRecordsWrittenBeforeCause: records written before Cause existed hold
// the refresh trigger as a string; they are read as the same Cause and written back
// with the same string, whatever the metric labels are called.
func TestCauseReadsRecordsWrittenBeforeCause(t *testing.T) {
	for stored, want := range map[string]Cause{
		"ahead": CauseAhead, "expired": CauseExpired, "unauthorized": CauseUnauthorized,
		"admin": CauseAdmin, "login": CauseLogin,
	} {
		// A record as this proxy wrote it before (format 1, plaintext).
		today := `{"format":1,"account":"alice","version":3,"status":"ok","scope":"user-read-private",` +
			`"expires_at":"2026-11-25T13:00:00Z","refreshed_at":"2026-11-25T12:00:00Z","refresh_trigger":"` + stored + `",` +
			`"access_token":"at","refresh_token":"rt"}`
		rec, err := (&Codec{}).Decode("alice", []byte(today))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Cause != want || !rec.RefreshedAt.Equal(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("%q read as cause %v at %v", stored, rec.Cause, rec.RefreshedAt)
		}
		b, err := (&Codec{}).Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"refresh_trigger":"`+stored+`"`) {
			t.Fatalf("%q written back as %s", stored, b)
		}
	}
	// A delivered record has no trigger, and writes none.
	rec, err := (&Codec{}).Decode("alice", []byte(`{"format":1,"account":"alice","version":1,"status":"ok","refresh_token":"rt"}`))
	if err != nil || rec.Cause != CauseNone {
		t.Fatalf("no trigger: %v %v", rec.Cause, err)
	}
	if b, _ := (&Codec{}).Encode(rec); strings.Contains(string(b), "refresh_trigger") {
		t.Fatalf("CauseNone written as %s", b)
	}
	if parseCause("something-newer") != CauseNone {
		t.Fatal("an unknown trigger is not CauseNone")
	}
}
