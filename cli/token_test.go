package cli

import (
	"strings"
	"testing"
)

func TestTokenPutReadsFileOrStdin(t *testing.T) {
	f := newFakeAdmin()
	srv := newServer(t, f)
	file := writeFile(t, "rt-from-file\n")
	r := runCLI(t, srv, nil, "", "token", "put", "alice", "--refresh-token-file", file, "--scope", "user-read-private")
	r.want(t, 0, "stored the refresh token of alice", "")
	r2 := runCLI(t, srv, nil, "rt-from-stdin\n", "token", "put", "--refresh-token-file=-", "bob")
	r2.want(t, 0, "bob", "")
	if len(f.deliveries) != 2 || f.deliveries[0]["refresh_token"] != "rt-from-file" || f.deliveries[0]["account"] != "alice" ||
		f.deliveries[0]["scope"] != "user-read-private" || f.deliveries[1]["refresh_token"] != "rt-from-stdin" {
		t.Fatalf("deliveries %v", f.deliveries)
	}
	for _, out := range []string{r.stdout, r.stderr, r2.stdout, r2.stderr} {
		if strings.Contains(out, "rt-from") {
			t.Fatal("the token was printed")
		}
	}
	runCLI(t, srv, nil, "", "token", "put", "alice").want(t, 2, "", "--refresh-token-file is required")
	runCLI(t, srv, nil, "", "token", "put", "alice", "--refresh-token-file", writeFile(t, "  \n")).want(t, 2, "", "--refresh-token-file: ")
	runCLI(t, srv, nil, "", "token", "put", "alice", "--refresh-token-file", "/nonexistent").want(t, 2, "", "--refresh-token-file: cannot read /nonexistent")
	if len(f.deliveries) != 2 {
		t.Fatal("a bad invocation delivered something")
	}
}
