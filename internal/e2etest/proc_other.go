//go:build !linux

package e2etest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
