package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestTraceAccountIDs(t *testing.T) {
	c, err := Load(nil, env(base()), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TraceAccountIDs {
		t.Fatal("TRACE_ACCOUNT_IDS defaults to false: account ids can be personal data")
	}
	e := base()
	e["TRACE_ACCOUNT_IDS"] = "true"
	if c, err = Load(nil, env(e), &bytes.Buffer{}); err != nil || !c.TraceAccountIDs {
		t.Fatalf("TRACE_ACCOUNT_IDS=true: %v, %v", c, err)
	}
	if c, err = Load([]string{"--trace-account-ids=false"}, env(e), &bytes.Buffer{}); err != nil || c.TraceAccountIDs {
		t.Fatalf("--trace-account-ids=false over the environment: %v, %v", c, err)
	}
	e["TRACE_ACCOUNT_IDS"] = "yes please"
	_, err = Load(nil, env(e), &bytes.Buffer{})
	var ce *Error
	if !errors.As(err, &ce) || ce.Var != "TRACE_ACCOUNT_IDS" {
		t.Fatalf("err = %v, want an error naming TRACE_ACCOUNT_IDS", err)
	}
	var help bytes.Buffer
	Load([]string{"--help"}, env(base()), &help)
	if !strings.Contains(help.String(), "TRACE_ACCOUNT_IDS") {
		t.Error("--help does not list TRACE_ACCOUNT_IDS")
	}
}
