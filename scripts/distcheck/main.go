// Command distcheck checks a GoReleaser snapshot in dist/ (make dist): an archive per
// release target holding the binary and the install files, an SPDX SBOM per archive,
// checksums.txt matching every file, binaries for the right machine, and the binaries
// this machine can run (natively, or arm ones under qemu-user-static) printing the
// snapshot's version and commit.
//
//	go run ./scripts/distcheck dist
package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// target is one release platform and what its binary must be.
type target struct {
	goos, goarch, goarm string
	check               func(path string) error
	emulator            string // runs it here when it is not this machine's platform
}

var targets = []target{
	{"linux", "amd64", "", elfMachine(elf.EM_X86_64), ""},
	{"linux", "arm64", "", elfMachine(elf.EM_AARCH64), "qemu-aarch64-static"},
	{"linux", "arm", "7", elfMachine(elf.EM_ARM), "qemu-arm-static"},
	{"darwin", "amd64", "", machoCPU(macho.CpuAmd64), ""},
	{"darwin", "arm64", "", machoCPU(macho.CpuArm64), ""},
	{"windows", "amd64", "", peMachine(pe.IMAGE_FILE_MACHINE_AMD64), ""},
	{"windows", "arm64", "", peMachine(pe.IMAGE_FILE_MACHINE_ARM64), ""},
}

// installFiles must be in every archive beside the binary.
var installFiles = []string{"README.md", "deploy/systemd/spotify-token-proxy.service",
	"deploy/systemd/spotify-token-proxy.env", "deploy/compose/compose.yaml", "deploy/compose/compose.redis.yaml"}

type artifact struct {
	Name, Path, Type    string
	Goos, Goarch, Goarm string
}

type metadata struct {
	Version, Commit string
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: distcheck DIST_DIR")
		os.Exit(2)
	}
	problems := check(os.Args[1])
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "distcheck:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Println("distcheck: archives, SBOMs, checksums and binaries OK")
}

func check(dist string) (problems []string) {
	fail := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	var meta metadata
	var arts []artifact
	if err := readJSON(filepath.Join(dist, "metadata.json"), &meta); err != nil {
		return []string{err.Error()}
	}
	if err := readJSON(filepath.Join(dist, "artifacts.json"), &arts); err != nil {
		return []string{err.Error()}
	}
	if meta.Commit == "" || meta.Commit == "none" {
		fail("metadata.json commit %q: GoReleaser read no git state", meta.Commit)
	}
	sums, err := readChecksums(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		return append(problems, err.Error())
	}
	find := func(typ string, t target) *artifact {
		for i, a := range arts {
			if a.Type == typ && a.Goos == t.goos && a.Goarch == t.goarch && a.Goarm == t.goarm {
				return &arts[i]
			}
		}
		return nil
	}
	for _, t := range targets {
		name := t.goos + "/" + t.goarch + t.goarm
		arc, bin := find("Archive", t), find("Binary", t)
		if arc == nil || bin == nil {
			fail("%s: archive %v, binary %v: want both", name, arc != nil, bin != nil)
			continue
		}
		arcPath := filepath.Join(dist, arc.Name)
		if err := checkSum(sums, arcPath); err != nil {
			fail("%s: %v", name, err)
		}
		sbom := arcPath + ".sbom.json"
		if err := checkSBOM(sbom); err != nil {
			fail("%s: %v", name, err)
		} else if err := checkSum(sums, sbom); err != nil {
			fail("%s: %v", name, err)
		}
		members, err := archiveMembers(arcPath)
		if err != nil {
			fail("%s: %v", name, err)
		}
		for _, want := range append([]string{bin.Name}, installFiles...) {
			if !slices.Contains(members, want) {
				fail("%s: %s lacks %s", name, arc.Name, want)
			}
		}
		binPath := bin.Path
		if !filepath.IsAbs(binPath) && !strings.HasPrefix(binPath, dist) {
			binPath = filepath.Join(dist, bin.Path)
		}
		if err := t.check(binPath); err != nil {
			fail("%s: %s: %v", name, bin.Path, err)
		}
		if err := runVersion(t, binPath, meta); err != nil {
			fail("%s: %v", name, err)
		}
	}
	return problems
}

// runVersion runs the binary's --version where this machine can, and wants the
// snapshot's version and commit in it.
func runVersion(t target, bin string, meta metadata) error {
	var argv []string
	switch {
	case t.goos == runtime.GOOS && t.goarch == runtime.GOARCH:
		argv = []string{bin, "--version"}
	case runtime.GOOS == "linux" && t.goos == "linux" && t.emulator != "":
		emu, err := exec.LookPath(t.emulator)
		if err != nil {
			return fmt.Errorf("%s not found: install Debian's qemu-user-static (apt-get install qemu-user-static)", t.emulator)
		}
		argv = []string{emu, bin, "--version"}
	default:
		return nil // another OS: the machine check above is what can be done here
	}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	for _, want := range []string{"spotify-token-proxy " + meta.Version + " ", "commit " + meta.Commit + ","} {
		if !strings.Contains(string(out), want) {
			return fmt.Errorf("--version printed %q, want %q in it", strings.TrimSpace(string(out)), want)
		}
	}
	if strings.Contains(string(out), "built unknown") || strings.Contains(string(out), "built 0001-") {
		return fmt.Errorf("--version printed %q: no build date", strings.TrimSpace(string(out)))
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readChecksums(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			return nil, fmt.Errorf("%s: not a sha256sum line: %q", path, sc.Text())
		}
		sums[name] = sum
	}
	return sums, sc.Err()
}

func checkSum(sums map[string]string, path string) error {
	want, ok := sums[filepath.Base(path)]
	if !ok {
		return fmt.Errorf("checksums.txt does not list %s", filepath.Base(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s: sha256 %s, checksums.txt says %s", filepath.Base(path), got, want)
	}
	return nil
}

// checkSBOM wants an SPDX document that lists the proxy's module and its dependencies.
func checkSBOM(path string) error {
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name string `json:"name"`
		} `json:"packages"`
	}
	if err := readJSON(path, &doc); err != nil {
		return fmt.Errorf("SBOM: %w", err)
	}
	if !strings.HasPrefix(doc.SPDXVersion, "SPDX-") {
		return fmt.Errorf("SBOM %s: spdxVersion %q", filepath.Base(path), doc.SPDXVersion)
	}
	var names []string
	for _, p := range doc.Packages {
		names = append(names, p.Name)
	}
	for _, want := range []string{"github.com/spotify-token-proxy/spotify-token-proxy", "github.com/redis/go-redis/v9", "stdlib"} {
		if !slices.Contains(names, want) {
			return fmt.Errorf("SBOM %s does not list %s", filepath.Base(path), want)
		}
	}
	return nil
}

func archiveMembers(path string) ([]string, error) {
	var names []string
	if strings.HasSuffix(path, ".zip") {
		z, err := zip.OpenReader(path)
		if err != nil {
			return nil, err
		}
		defer z.Close()
		for _, f := range z.File {
			names = append(names, f.Name)
		}
		return names, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		names = append(names, h.Name)
	}
}

func elfMachine(want elf.Machine) func(string) error {
	return func(path string) error {
		f, err := elf.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if f.Machine != want {
			return fmt.Errorf("ELF machine %v, want %v", f.Machine, want)
		}
		return nil
	}
}

func machoCPU(want macho.Cpu) func(string) error {
	return func(path string) error {
		f, err := macho.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if f.Cpu != want {
			return fmt.Errorf("Mach-O CPU %v, want %v", f.Cpu, want)
		}
		return nil
	}
}

func peMachine(want uint16) func(string) error {
	return func(path string) error {
		f, err := pe.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if f.Machine != want {
			return fmt.Errorf("PE machine %#x, want %#x", f.Machine, want)
		}
		return nil
	}
}
