// Package e2etest runs the project's commands as child processes for end-to-end
// tests (cmd/spotify-token-proxy's and the chaos suite's).
//
// Builds compiles a command of the module once per test process into a temporary
// directory; Start starts a command and reaps it in a goroutine, so a test can
// wait for its exit, for readiness (Process.WaitReady) or for a graceful stop
// (Process.Stop). On Linux a started process is killed when the test binary dies
// (best effort).
package e2etest
