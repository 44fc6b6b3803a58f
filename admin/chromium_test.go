package admin

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium or Chrome binary. Without -short a missing
// browser fails the test: a skipped browser test must never count as passing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found in PATH for the browser test: apt-get install chromium (or run go test -short to skip it)")
	return ""
}

// artifactsDir is where the browser test leaves its screenshots: TEST_ARTIFACTS_DIR,
// default $TMPDIR/spotify-token-proxy-artifacts.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "spotify-token-proxy-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromium is a headless Chromium, driven by chromedp, for one test.
type chromium struct {
	t    *testing.T
	ctx  context.Context // the browser's own: no time limit
	step context.Context // the steps': the test's time limit
	logs func() string   // the server's log, shown when a step fails
}

// startChromium starts the browser on start, width×900, and gives its steps
// limit in all. A missing browser fails the test (see chromiumPath).
func startChromium(t *testing.T, start string, width int, limit time.Duration, logs func() string) *chromium {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.NoSandbox, chromedp.Headless,
		chromedp.ExecPath(chromiumPath(t)), chromedp.WindowSize(width, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	// The first Run starts the browser and owns it: no time limit on its context.
	if err := chromedp.Do(ctx, chromedp.Navigate(start)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	step, cancelStep := context.WithTimeout(ctx, limit)
	t.Cleanup(cancelStep)
	return &chromium{t: t, ctx: ctx, step: step, logs: logs}
}

// run runs steps; on failure the test stops, saying where the browser got stuck
// (a short look: the step may have used up the time limit).
func (c *chromium) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.step, steps...); err != nil {
		look, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		at, _ := chromedp.Run(look, chromedp.Location())
		body, _ := chromedp.Run(look, chromedp.Text(chromedp.CSS("body")))
		c.t.Fatalf("%s: %v (the browser is at %s showing %q; server log: %s)", what, err, at, body, c.logs())
	}
}
