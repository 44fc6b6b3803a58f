package e2etest

import (
	"fmt"
	"net/http"
	"os/exec"
	"syscall"
	"time"
)

// Process is a started command whose exit a goroutine waits for.
type Process struct {
	Cmd    *exec.Cmd
	exited chan struct{}
	err    error // valid once exited is closed
}

// Start starts cmd. On Linux the process is killed when the test binary dies.
func Start(cmd *exec.Cmd) (*Process, error) {
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed when the process has exited and been reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the exit error (nil: status 0). Call it once Exited is closed.
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Kill kills the process (continuing it first, in case it was stopped) and waits
// until it is reaped.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGCONT)
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// Stop sends SIGTERM and returns the exit error (nil: status 0). A process still
// running after within is killed, and Stop says so.
func (p *Process) Stop(within time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(within):
		p.Kill()
		return fmt.Errorf("no exit within %s of SIGTERM", within)
	}
}

// WaitReady polls url (each request bounded to 2s) until it answers 200. It
// returns an error when the process exits first or within passes.
func (p *Process) WaitReady(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited during start-up: %v", p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s", within)
		}
	}
}
