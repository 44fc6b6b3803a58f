package admin

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// scaleAccounts is how many accounts the paging test stores.
const scaleAccounts = 100_000

// With 100,000 accounts in Redis, a page of the table is one page of store reads:
// one List of pageSize records (one ZRANGEBYLEX and one pipelined HMGET per
// record), plus the readiness PING, wherever the page is in the list. A filtered
// page reads at most its budget. Nothing loads every account.
func TestOperatorPage100kAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 100,000 accounts: skipped with -short")
	}
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), PoolSize: 16})
	t.Cleanup(func() { client.Close() })
	store := tokenstore.NewRedisStore(client, "", nil)

	start := time.Now()
	seedRedis(t, mr, store, scaleAccounts)
	t.Logf("stored %d accounts in %v", scaleAccounts, time.Since(start).Round(time.Millisecond))

	p := newPageEnv(t, func(c *Config) {
		c.Tokens = &countingTokens{Tokens: tokenstore.NewSource(tokenstore.Config{Store: store, Refresher: &fakeRefresher{}, ScanInterval: -1})}
	})
	// The env's counter wraps the source over the file store; read through this one.
	p.tokens = p.srv.cfg.Tokens.(*countingTokens)
	p.signIn(t, "/")
	p.b.get(t, "/") // the client's connections are set up (HELLO, CLIENT SETINFO)

	measure := func(path string) (ids []string, next string, calls, records, commands int, took time.Duration) {
		t.Helper()
		p.tokens.reads()
		before := mr.CommandCount()
		start := time.Now()
		a := p.b.get(t, path)
		took = time.Since(start)
		commands = mr.CommandCount() - before
		if a.status != 200 {
			t.Fatalf("GET %s: %d %s", path, a.status, a.body)
		}
		ids, _ = rows(a.body)
		calls, records = p.tokens.reads()
		return ids, nextPage(a.body), calls, records, commands, took
	}

	for _, path := range []string{"/", "/?after=" + scaleID(scaleAccounts/2), "/?after=" + scaleID(scaleAccounts-pageSize-1)} {
		rows, next, calls, records, commands, took := measure(path)
		if len(rows) != pageSize || calls != 1 || records != pageSize {
			t.Fatalf("GET %s: %d rows from %d List calls of %d records", path, len(rows), calls, records)
		}
		// ZRANGEBYLEX (pageSize+1 ids, to know whether a next page exists), one
		// HMGET per id, PING for the health panel.
		if commands > pageSize+3 {
			t.Fatalf("GET %s: %d Redis commands for one page of %d", path, commands, pageSize)
		}
		t.Logf("GET %-22s %d rows, %d List call, %d records, %d Redis commands, %v", path, len(rows), calls, records, commands, took.Round(time.Microsecond))
		if path != "/" {
			if u, _ := url.Parse(path); rows[0] <= u.Query().Get("after") {
				t.Fatalf("GET %s starts at %s", path, rows[0])
			}
		}
		if path == "/?after="+scaleID(scaleAccounts-pageSize-1) {
			if next != "" || rows[pageSize-1] != scaleID(scaleAccounts-1) {
				t.Fatalf("last page: next %q, last row %s", next, rows[pageSize-1])
			}
		} else if next == "" {
			t.Fatalf("GET %s: no next page", path)
		}
	}

	// Every 1000th account needs a login: a filtered page stops at its budget.
	rows, next, calls, records, commands, took := measure("/?status=reauth_required")
	if calls > filterReads || records > filterReads*filterBatch || next == "" {
		t.Fatalf("filtered: %d rows, %d List calls, %d records, next %q", len(rows), calls, records, next)
	}
	t.Logf("GET /?status=reauth_required: %d rows, %d List calls, %d records, %d Redis commands, %v", len(rows), calls, records, commands, took.Round(time.Microsecond))
}

func scaleID(i int) string { return fmt.Sprintf("user-%06d", i) }

// seedRedis stores n accounts (every 1000th needs a login). Storing 100,000
// through Put's script takes about a minute in miniredis, so two are stored
// through the store, and the others are copies of them under their own ids,
// written to miniredis directly: whatever keys and fields Put wrote, with the
// account id replaced (the ids are all the same length, records are plaintext).
func seedRedis(t *testing.T, mr *miniredis.Miniredis, store *tokenstore.RedisStore, n int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	templates := map[tokenstore.Status]string{tokenstore.StatusOK: scaleID(0), tokenstore.StatusReauthRequired: scaleID(999)}
	for st, id := range templates {
		rec := tokenstore.Record{Account: id, RefreshToken: "RT", Status: st, AuthorizedAt: now, Scope: "user-read-private"}
		if _, err := store.Put(ctx, rec, 0); err != nil {
			t.Fatal(err)
		}
	}
	var index, okKey string
	for _, k := range mr.Keys() {
		switch {
		case strings.Contains(k, scaleID(0)):
			okKey = k
		case !strings.Contains(k, scaleID(999)):
			index = k
		}
	}
	if typ := mr.Type(index); typ != "zset" || okKey == "" {
		t.Fatalf("unexpected Redis layout: keys %v (index %q is a %s)", mr.Keys(), index, typ)
	}
	fields := map[tokenstore.Status]map[string]string{}
	for st, id := range templates {
		key := strings.Replace(okKey, scaleID(0), id, 1)
		fields[st] = map[string]string{}
		for _, f := range must(mr.HKeys(key)) {
			fields[st][f] = mr.HGet(key, f)
		}
	}
	for i := range n {
		id := scaleID(i)
		st := tokenstore.StatusOK
		if i%1000 == 999 {
			st = tokenstore.StatusReauthRequired
		}
		if id == templates[st] {
			continue
		}
		key := strings.Replace(okKey, scaleID(0), id, 1)
		for f, v := range fields[st] {
			mr.HSet(key, f, strings.ReplaceAll(v, templates[st], id))
		}
		if _, err := mr.ZAdd(index, 0, id); err != nil {
			t.Fatal(err)
		}
	}
	// The copies read back as records of their own.
	for _, i := range []int{1, 1999, n - 1} {
		rec, err := store.Get(ctx, scaleID(i))
		if err != nil || rec.Account != scaleID(i) || (i%1000 == 999) != (rec.Status == tokenstore.StatusReauthRequired) {
			t.Fatalf("seeded %s reads back as %v, %v", scaleID(i), rec, err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
