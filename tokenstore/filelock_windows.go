//go:build windows

package tokenstore

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockExclusive takes an exclusive lock on f's first byte without waiting; closing f
// or exiting releases it.
func lockExclusive(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
}
