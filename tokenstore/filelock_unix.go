//go:build unix

package tokenstore

import (
	"os"
	"syscall"
)

// lockExclusive takes an exclusive advisory lock on f without waiting; the lock goes
// with the process (closing f or exiting releases it).
func lockExclusive(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
