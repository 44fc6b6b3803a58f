package chartcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the proxy's repository, two levels up.
const repoRoot = "../.."

// dockerInstruction is one instruction of a Dockerfile, continuation lines joined.
type dockerInstruction struct {
	Cmd  string // upper case: FROM, RUN, …
	Args string
	Line int
}

func parseDockerfile(text string) []dockerInstruction {
	var out []dockerInstruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
		cur.Reset()
	}
	return out
}

// expandArgs resolves ${NAME} and $NAME from the ARG defaults seen so far.
func expandArgs(s string, args map[string]string) string {
	return os.Expand(s, func(name string) string { return args[name] })
}

type dockerStage struct {
	Image, Name string
	Instrs      []dockerInstruction
}

func dockerStages(instrs []dockerInstruction) []dockerStage {
	args := map[string]string{}
	var stages []dockerStage
	for _, in := range instrs {
		switch {
		case in.Cmd == "ARG" && len(stages) == 0:
			name, def, _ := strings.Cut(in.Args, "=")
			args[name] = strings.Trim(def, `"`)
		case in.Cmd == "FROM":
			var image, name string
			for f := range strings.FieldsSeq(in.Args) {
				if strings.HasPrefix(f, "--") {
					continue
				}
				if image == "" {
					image = expandArgs(f, args)
				} else if !strings.EqualFold(f, "AS") {
					name = f
				}
			}
			stages = append(stages, dockerStage{Image: image, Name: name})
		case len(stages) > 0:
			stages[len(stages)-1].Instrs = append(stages[len(stages)-1].Instrs, in)
		}
	}
	return stages
}

// TestDockerfileInvariants checks the image build without a container engine:
// multi-stage, pinned official Go image, static trimmed build with the version injected,
// distroless static nonroot runtime without a shell, listeners on 0.0.0.0, ports, and
// an exec-form ENTRYPOINT.
func TestDockerfileInvariants(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	instrs := parseDockerfile(string(data))
	stages := dockerStages(instrs)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	names := map[string]bool{}
	for _, s := range stages {
		if s.Name != "" {
			names[s.Name] = true
		}
	}
	for _, s := range stages {
		if names[s.Image] || s.Image == "scratch" {
			continue
		}
		ref, _, _ := strings.Cut(s.Image, "@")
		slash := strings.LastIndex(ref, "/")
		colon := strings.LastIndex(ref, ":")
		if colon <= slash {
			t.Errorf("FROM %s: no tag (means latest)", s.Image)
		} else if tag := ref[colon+1:]; tag == "latest" || strings.Contains(tag, "$") {
			t.Errorf("FROM %s: pin a tag, never latest", s.Image)
		}
	}
	if strings.Contains(strings.ToLower(string(data)), ":latest") {
		t.Errorf("Dockerfile mentions :latest")
	}

	build := stages[0]
	if !regexp.MustCompile(`^golang:1\.26\.\d+-`).MatchString(build.Image) {
		t.Errorf("build stage FROM %s, want the official golang:1.26.x image with a full version tag", build.Image)
	}
	var goBuild string
	for _, in := range build.Instrs {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			goBuild = in.Args
		}
	}
	if goBuild == "" {
		t.Fatalf("build stage has no `go build`")
	}
	const bi = "-X github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo."
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", bi + "version=${VERSION}", bi + "commit=${COMMIT}",
		bi + "date=${DATE}", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", `GOARM="${TARGETVARIANT#v}"`, "./cmd/spotify-token-proxy"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("go build lacks %q: %s", want, goBuild)
		}
	}
	for _, arg := range []string{"VERSION", "COMMIT", "DATE", "TARGETOS", "TARGETARCH", "TARGETVARIANT"} {
		if !slices.ContainsFunc(build.Instrs, func(in dockerInstruction) bool {
			return in.Cmd == "ARG" && (in.Args == arg || strings.HasPrefix(in.Args, arg+"="))
		}) {
			t.Errorf("build stage needs ARG %s", arg)
		}
	}
	// The Go build runs on the builder's platform and cross-compiles (no emulation).
	for _, in := range instrs {
		if in.Cmd == "FROM" {
			if !strings.Contains(in.Args, "--platform=$BUILDPLATFORM") {
				t.Errorf("line %d: FROM %s: the build stage must run on --platform=$BUILDPLATFORM", in.Line, in.Args)
			}
			break
		}
	}

	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.Image, "gcr.io/distroless/static-debian12:nonroot") {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static-debian12:nonroot", final.Image)
	}
	var user, entrypoint, healthcheck string
	env := map[string]string{}
	exposed := map[string]bool{}
	for _, in := range final.Instrs {
		switch in.Cmd {
		case "RUN":
			t.Errorf("line %d: RUN in the final stage (distroless has no shell)", in.Line)
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			entrypoint = in.Args
		case "HEALTHCHECK":
			healthcheck = in.Args
		case "ENV":
			for _, kv := range regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`).FindAllStringSubmatch(in.Args, -1) {
				env[kv[1]] = strings.Trim(kv[2], `"`)
			}
		case "EXPOSE":
			for p := range strings.FieldsSeq(in.Args) {
				exposed[strings.TrimSuffix(p, "/tcp")] = true
			}
		case "COPY":
			if strings.Contains(in.Args, "--from=") && !strings.Contains(in.Args, "--from="+build.Name) {
				t.Errorf("line %d: COPY from an unexpected stage: %s", in.Line, in.Args)
			}
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage USER %q: want a non-root user (65532 / nonroot)", user)
	}
	if !strings.HasPrefix(entrypoint, `["`) || !strings.Contains(entrypoint, "spotify-token-proxy") {
		t.Errorf("ENTRYPOINT %s: want the binary in exec form", entrypoint)
	}
	// distroless has no shell or curl: the binary probes its own /readyz.
	if !strings.Contains(healthcheck, `CMD ["/usr/local/bin/spotify-token-proxy", "healthcheck"]`) {
		t.Errorf("HEALTHCHECK %q: want the exec-form `spotify-token-proxy healthcheck`", healthcheck)
	}
	if env["LISTEN_ADDR"] != "0.0.0.0:8080" || env["ADMIN_ADDR"] != "0.0.0.0:9090" {
		t.Errorf("ENV LISTEN_ADDR=%q ADMIN_ADDR=%q, want 0.0.0.0:8080 and 0.0.0.0:9090", env["LISTEN_ADDR"], env["ADMIN_ADDR"])
	}
	for _, p := range []string{"8080", "9090"} {
		if !exposed[p] {
			t.Errorf("EXPOSE lacks %s", p)
		}
	}

	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	for _, want := range []string{".git", "bin"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "*.go", "cmd"} {
		if slices.Contains(lines, keep) {
			t.Errorf(".dockerignore excludes %s, which the build needs", keep)
		}
	}
}
