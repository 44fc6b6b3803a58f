package e2etest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// Module is the import path of the project's module.
const Module = "github.com/spotify-token-proxy/spotify-token-proxy"

// Builds compiles the module's commands, each (package, race) once. The zero value
// is ready to use and safe for concurrent use; Remove deletes what it built. The go
// command is $GO when set, else go.
type Builds struct {
	mu   sync.Mutex
	dir  string
	bins map[buildKey]built
}

type buildKey struct {
	pkg  string
	race bool
}

type built struct {
	path string
	err  error
}

// Binary returns the path of the command pkg (relative to the module, e.g.
// "cmd/spotify-token-proxy"), built with -race when race is set. A failed build
// is not retried.
func (b *Builds) Binary(pkg string, race bool) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := buildKey{pkg, race}
	if r, ok := b.bins[k]; ok {
		return r.path, r.err
	}
	r := b.build(k)
	if b.bins == nil {
		b.bins = map[buildKey]built{}
	}
	b.bins[k] = r
	return r.path, r.err
}

func (b *Builds) build(k buildKey) built {
	if b.dir == "" {
		dir, err := os.MkdirTemp("", "stp-e2e-bin")
		if err != nil {
			return built{err: err}
		}
		b.dir = dir
	}
	name := path.Base(k.pkg)
	args := []string{"build"}
	if k.race {
		name += "-race"
		args = append(args, "-race")
	}
	dst := filepath.Join(b.dir, name)
	args = append(args, "-o", dst, Module+"/"+k.pkg)
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	if out, err := exec.Command(goBin, args...).CombinedOutput(); err != nil {
		return built{err: fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)}
	}
	return built{path: dst}
}

// Remove deletes the built binaries (from TestMain, after m.Run).
func (b *Builds) Remove() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
	b.dir, b.bins = "", nil
}
