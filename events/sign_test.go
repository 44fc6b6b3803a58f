package events

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector: a receiver's
// library computes exactly this for these inputs, so it accepts what we sign.
func TestSignatureMatchesTheSpecificationVector(t *testing.T) {
	s, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}
	h := http.Header{}
	s.setHeaders(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if h.Get("webhook-id") != "msg_p5jXN8AQM9LWM0D4loKWxJek" || h.Get("webhook-timestamp") != "1614265330" ||
		h.Get("webhook-signature") != got {
		t.Fatalf("headers %v", h)
	}
}

func TestSecretParsingAndRedaction(t *testing.T) {
	for _, bad := range []string{"", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ=", "plain-text-password"} {
		_, err := ParseSecret(bad)
		if err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), strings.TrimPrefix(bad, "whsec_")) && strings.TrimPrefix(bad, "whsec_") != "" {
			t.Errorf("error %q quotes the secret", err)
		}
	}
	// The prefix is optional, as in the reference libraries.
	s, err := ParseSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	if str := s.String(); strings.Contains(str, "MfKQ") {
		t.Fatalf("String() = %q shows the key", str)
	}
}
