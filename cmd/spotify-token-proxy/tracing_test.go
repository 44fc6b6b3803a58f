package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A bad OTEL_* value stops start-up as a configuration error naming the variable.
func TestBadTracingSettingIsAUsageError(t *testing.T) {
	env := map[string]string{
		"SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "secret", "TOKEN_FILE": t.TempDir() + "/t.json",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
	}
	var logs, stderr bytes.Buffer
	err := runWith(context.Background(), nil, func(k string) string { return env[k] }, &logs)
	if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Fatalf("exit %d, %q: want 2 and the variable named", code, stderr.String())
	}
}
