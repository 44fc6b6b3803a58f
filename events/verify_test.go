package events

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	s, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ParseSecret("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
	now := time.Unix(1764547200, 0)
	body := []byte(`{"type":"account.linked"}`)
	headers := func(sig string, at time.Time) http.Header {
		h := http.Header{}
		h.Set(HeaderID, "msg_1")
		h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
		h.Set(HeaderSignature, sig)
		return h
	}
	good := s.Sign("msg_1", now, body)
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"signed", headers(good, now), body, nil},
		{"one of several signatures (key rotation)", headers(other.Sign("msg_1", now, body)+" "+good, now), body, nil},
		{"within tolerance", headers(s.Sign("msg_1", now.Add(-4*time.Minute), body), now.Add(-4*time.Minute)), body, nil},
		{"other key", headers(other.Sign("msg_1", now, body), now), body, ErrSignature},
		{"body changed", headers(good, now), []byte(`{"type":"account.deleted"}`), ErrSignature},
		{"timestamp changed", headers(good, now.Add(time.Second)), body, ErrSignature},
		{"too old (replay)", headers(s.Sign("msg_1", now.Add(-6*time.Minute), body), now.Add(-6*time.Minute)), body, ErrTimestamp},
		{"from the future", headers(s.Sign("msg_1", now.Add(6*time.Minute), body), now.Add(6*time.Minute)), body, ErrTimestamp},
		{"no signature", headers("", now), body, ErrMissingHeaders},
	} {
		err := s.Verify(tc.h, tc.body, now, 0)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	// The Standard Webhooks specification's own example.
	spec, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	specAt := time.Unix(1614265330, 0)
	specBody := []byte(`{"test": 2432232314}`)
	if got := spec.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", specAt, specBody); got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("the specification's example signs as %s", got)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(HeaderTimestamp, "1614265330")
	h.Set(HeaderSignature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if err := spec.Verify(h, specBody, specAt.Add(time.Minute), 0); err != nil {
		t.Fatalf("the specification's example does not verify: %v", err)
	}

	// What the sender sets, the receiver accepts.
	h = http.Header{}
	s.setHeaders(h, "msg_2", now, body)
	if err := s.Verify(h, body, now, 0); err != nil {
		t.Fatalf("a delivery's own headers: %v", err)
	}
}
