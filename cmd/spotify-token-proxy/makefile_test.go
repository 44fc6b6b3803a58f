package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Every target of the Makefile has a "## target: what it does" comment right
// above it (the help target's input), and `make help` lists them all.
func TestMakefileTargetsAreDocumented(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	target := regexp.MustCompile(`^([a-z][a-z-]*):`)
	var targets []string
	for i, l := range lines {
		m := target.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		targets = append(targets, m[1])
		documented := false
		for j := i - 1; j >= 0 && lines[j] != ""; j-- {
			if strings.HasPrefix(lines[j], "## "+m[1]+": ") {
				documented = true
			}
		}
		if !documented {
			t.Errorf("target %s has no \"## %s: …\" comment above it", m[1], m[1])
		}
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed: %v", err)
	}
	out, err := exec.Command("make", "-s", "-C", "../..", "help").CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for _, tg := range targets {
		if !strings.Contains(string(out), "make "+tg+" ") {
			t.Errorf("make help does not list %s:\n%s", tg, out)
		}
	}
}
