package e2etest

import "syscall"

// sysProcAttr kills the process when the test binary dies (best effort: Pdeathsig
// follows the thread that started the process).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
