package main

// Checks of the files that build and run Herold outside Go: docker-compose.yml,
// the Dockerfile, the Makefile, the CI workflow and go.mod. No Docker daemon
// is needed (CI machines often have none); `make compose-check` runs these.

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/config"
)

// repoFile reads a file at the repository root (tests run in cmd/herold).
func repoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The subset of the Compose file format docker-compose.yml uses. Decoding
// with KnownFields fails on any other key, so a misspelt one (helthcheck)
// is caught here rather than silently ignored by Docker.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image           string                      `yaml:"image"`
	Build           string                      `yaml:"build"`
	Command         []string                    `yaml:"command"`
	DependsOn       map[string]composeDependsOn `yaml:"depends_on"`
	Environment     map[string]string           `yaml:"environment"`
	Ports           []string                    `yaml:"ports"`
	Volumes         []string                    `yaml:"volumes"`
	Healthcheck     *composeHealth              `yaml:"healthcheck"`
	StopGracePeriod string                      `yaml:"stop_grace_period"`
	Restart         string                      `yaml:"restart"`
}

type composeDependsOn struct {
	Condition string `yaml:"condition"`
}

type composeHealth struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// interpolate replaces Compose's ${NAME:-default} and ${NAME} by the default
// (or nothing), which is what a shell without those variables gets.
func interpolate(s string) string {
	return regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}`).ReplaceAllString(s, "$1")
}

// pinnedImage reports whether image names a tag that starts with a version
// number (redis:7-alpine, axllent/mailpit:v1.31.4), not latest or none.
func pinnedImage(image string) bool {
	i := strings.LastIndexByte(image, ':')
	if i < 0 || strings.Contains(image[i:], "/") {
		return false // no tag (a colon, if any, belongs to a registry port)
	}
	return regexp.MustCompile(`^v?[0-9]+(\.[0-9]+)*($|[-.])`).MatchString(image[i+1:])
}

func TestDeployPinnedImage(t *testing.T) {
	t.Parallel()
	for image, want := range map[string]bool{
		"axllent/mailpit:v1.31.4": true, "redis:7-alpine": true, "redis:7.4.1": true, "golang:1.26": true,
		"axllent/mailpit": false, "redis:latest": false, "redis:alpine": false, "registry:5000/herold": false,
	} {
		if got := pinnedImage(image); got != want {
			t.Errorf("pinnedImage(%q) = %v, want %v", image, got, want)
		}
	}
}

func TestDeployCompose(t *testing.T) {
	t.Parallel()
	var f composeFile
	dec := yaml.NewDecoder(bytes.NewReader(repoFile(t, "docker-compose.yml")))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if f.Name == "" {
		t.Error("no project name")
	}
	for _, name := range []string{"redis", "mailpit", "herold"} {
		if _, ok := f.Services[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
	dockerfile := parseDockerfile(t)

	for name, s := range f.Services {
		switch {
		case (s.Image == "") == (s.Build == ""):
			t.Errorf("%s: want exactly one of image and build", name)
		case s.Image != "" && !pinnedImage(s.Image):
			t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
		case s.Build != "" && s.Build != ".":
			t.Errorf("%s: build %q, want the Dockerfile at the root (.)", name, s.Build)
		}
		if s.Restart == "" {
			t.Errorf("%s: no restart policy", name)
		}
		h := s.Healthcheck
		if h == nil {
			t.Errorf("%s: no health check", name)
		} else {
			if len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
				t.Errorf("%s: health check test %q, want [CMD, program, args...]", name, h.Test)
			}
			for field, d := range map[string]string{"interval": h.Interval, "timeout": h.Timeout, "start_period": h.StartPeriod} {
				if _, err := time.ParseDuration(d); d != "" && err != nil {
					t.Errorf("%s: health check %s %q: %v", name, field, d, err)
				}
			}
			if h.Retries < 1 {
				t.Errorf("%s: health check retries %d", name, h.Retries)
			}
		}
		for _, p := range s.Ports {
			// Bound to loopback only, as the file promises.
			if parts := strings.Split(p, ":"); len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("%s: port %q is not 127.0.0.1:HOST:CONTAINER", name, p)
			}
		}
		for _, v := range s.Volumes {
			vol, _, _ := strings.Cut(v, ":")
			if _, ok := f.Volumes[vol]; !ok {
				t.Errorf("%s: volume %q is not declared", name, vol)
			}
		}
		for dep, d := range s.DependsOn {
			other, ok := f.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on %s, which is no service", name, dep)
			case d.Condition != "service_healthy":
				t.Errorf("%s waits for %s to be %q, want service_healthy", name, dep, d.Condition)
			case other.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
	}

	// ---- Herold: settings that exist and load, and agree with the other services.
	h := f.Services["herold"]
	var environ []string
	env := map[string]string{}
	for k, v := range h.Environment {
		environ = append(environ, k+"="+v)
		env[k] = interpolate(v)
	}
	for _, u := range config.UnknownEnv(environ, config.Settings(&config.Config{})) {
		t.Errorf("herold: %s", u)
	}
	var cfg config.Config
	if err := config.Load(&cfg, getenvFrom(env), nil); err != nil {
		t.Fatalf("herold: the environment does not load:\n%v", err)
	}
	if _, err := apikey.Load(cfg.Core.APIKeys, ""); err != nil {
		t.Errorf("herold: %v", err)
	}
	if !slices.Equal(h.Command, []string{"serve"}) {
		t.Errorf("herold: command %q, want [serve]", h.Command)
	}
	_, httpPort, _ := net.SplitHostPort(cfg.HTTP.Addr)
	if len(h.Ports) != 1 || !strings.HasSuffix(h.Ports[0], ":"+httpPort) {
		t.Errorf("herold: ports %q do not publish HEROLD_HTTP_ADDR's port %s", h.Ports, httpPort)
	}
	if want := []string{"CMD", dockerfile.entrypoint, "health"}; h.Healthcheck == nil || !slices.Equal(h.Healthcheck.Test, want) {
		t.Errorf("herold: health check %v, want %q (the image has no shell)", h.Healthcheck, want)
	}
	if grace, err := time.ParseDuration(h.StopGracePeriod); err != nil || grace <= cfg.HTTP.ShutdownGrace {
		t.Errorf("herold: stop_grace_period %q is not longer than HEROLD_SHUTDOWN_GRACE (%s)", h.StopGracePeriod, cfg.HTTP.ShutdownGrace)
	}
	if !slices.ContainsFunc(h.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+cfg.Core.OutboxDir) }) {
		t.Errorf("herold: no volume at HEROLD_OUTBOX_DIR %s", cfg.Core.OutboxDir)
	}
	// Redis and SMTP point at the services by name and at ports they serve.
	redisHost := strings.TrimPrefix(cfg.Redis.URL, "redis://")
	redisHost, _, _ = strings.Cut(redisHost, "/")
	if host, port, _ := net.SplitHostPort(redisHost); host != "redis" || port != "6379" {
		t.Errorf("herold: HEROLD_REDIS_URL %s is not the redis service", cfg.Redis.URL)
	}
	smtp, ok := f.Services[cfg.SMTP.Host]
	if !ok {
		t.Fatalf("herold: HEROLD_SMTP_HOST %q is no service", cfg.SMTP.Host)
	}
	if !slices.ContainsFunc(smtp.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+strconv.Itoa(cfg.SMTP.Port)) }) {
		t.Errorf("herold: HEROLD_SMTP_PORT %d is not a port of %s (%q)", cfg.SMTP.Port, cfg.SMTP.Host, smtp.Ports)
	}
}

// dockerfile is what the tests need of the Dockerfile.
type dockerfile struct {
	goImage    string   // FROM of the build stage, e.g. golang:1.26
	buildArgs  []string // ARGs of the build stage before its go build
	goBuild    string   // the RUN line with go build, continuations joined
	entrypoint string   // the final stage's ENTRYPOINT program
	copiedTo   []string // destinations of COPY --from=build in the final stage
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	var d dockerfile
	text := strings.ReplaceAll(string(repoFile(t, "Dockerfile")), "\\\n", " ")
	stage := 0
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			stage++
			if stage == 1 {
				d.goImage, _, _ = strings.Cut(rest, " ")
			}
		case "ARG":
			if stage == 1 && d.goBuild == "" {
				name, _, _ := strings.Cut(rest, "=")
				d.buildArgs = append(d.buildArgs, name)
			}
		case "RUN":
			if stage == 1 && strings.Contains(rest, "go build") {
				d.goBuild = rest
			}
		case "COPY":
			if f := strings.Fields(rest); stage > 1 && strings.HasPrefix(rest, "--from=build") {
				d.copiedTo = append(d.copiedTo, f[len(f)-1])
			}
		case "ENTRYPOINT":
			var prog []string
			if err := yaml.Unmarshal([]byte(rest), &prog); err != nil || len(prog) == 0 {
				t.Fatalf("Dockerfile: ENTRYPOINT %s is not an exec-form list: %v", rest, err)
			}
			d.entrypoint = prog[0]
		}
	}
	if d.goBuild == "" || d.entrypoint == "" {
		t.Fatalf("Dockerfile: no go build in the first stage or no ENTRYPOINT: %+v", d)
	}
	return d
}

// ldflagsX returns the -X flags (name=value) of the -ldflags in a command.
func ldflagsX(cmd string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`-X\s+([A-Za-z0-9_./]+)=(\S*?)["\s]`).FindAllStringSubmatch(cmd+" ", -1) {
		out[m[1]] = m[2]
	}
	return out
}

// mainStringVars lists the package-level string variables of package main:
// the only names -X can set. A -X for a name that does not exist is silently
// ignored by the linker, so the tests check each one.
func mainStringVars(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	vars := map[string]bool{}
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" && len(vs.Values) == 0 {
					for _, n := range vs.Names {
						vars[n.Name] = true
					}
				}
			}
		}
	}
	return vars
}

// stampFlags checks that flags set main.version and main.commit from the
// given placeholders and that both name variables of package main.
func stampFlags(t *testing.T, where string, flags map[string]string, version, commit string) {
	t.Helper()
	vars := mainStringVars(t)
	want := map[string]string{"main.version": version, "main.commit": commit}
	for name, value := range want {
		if flags[name] != value {
			t.Errorf("%s: -X %s=%q, want %q", where, name, flags[name], value)
		}
	}
	for name := range flags {
		if v, ok := strings.CutPrefix(name, "main."); !ok || !vars[v] {
			t.Errorf("%s: -X %s names no string variable of package main", where, name)
		}
	}
}

func TestDeployDockerfileStampsVersion(t *testing.T) {
	t.Parallel()
	d := parseDockerfile(t)
	for _, arg := range []string{"VERSION", "COMMIT"} {
		if !slices.Contains(d.buildArgs, arg) {
			t.Errorf("Dockerfile: the build stage declares no ARG %s before go build", arg)
		}
	}
	if !strings.Contains(d.goBuild, "-ldflags") || !strings.Contains(d.goBuild, " ./cmd/herold") {
		t.Errorf("Dockerfile: %q does not build ./cmd/herold with -ldflags", d.goBuild)
	}
	stampFlags(t, "Dockerfile", ldflagsX(d.goBuild), "${VERSION}", "${COMMIT}")
	if !slices.Contains(d.copiedTo, d.entrypoint) {
		t.Errorf("Dockerfile: ENTRYPOINT %s is not the binary copied from the build stage (%q)", d.entrypoint, d.copiedTo)
	}
	// The build stage's Go is go.mod's release (golang:1.26 for go 1.26.x).
	goLine := regexp.MustCompile(`(?m)^go ([0-9]+\.[0-9]+)`).FindSubmatch(repoFile(t, "go.mod"))
	if goLine == nil || d.goImage != "golang:"+string(goLine[1]) {
		t.Errorf("Dockerfile: build stage FROM %s, want golang:%s (go.mod)", d.goImage, goLine[1])
	}
	// Without build args, go build stamps the commit from .git; it must be in the context.
	for _, line := range strings.Split(string(repoFile(t, ".dockerignore")), "\n") {
		if l := strings.TrimSpace(line); l == ".git" || l == ".ci" {
			t.Errorf(".dockerignore excludes %s: builds without VERSION and COMMIT would say (devel) or +dirty", l)
		}
	}
}

// makeRule returns the recipe lines of target in the Makefile.
func makeRule(makefile, target string) []string {
	var recipe []string
	in := false
	for _, line := range strings.Split(makefile, "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			recipe = append(recipe, strings.TrimSpace(line))
		case in:
			return recipe
		}
	}
	return recipe
}

func TestDeployMakefileStampsVersion(t *testing.T) {
	t.Parallel()
	mk := string(repoFile(t, "Makefile"))
	// Expand $(LDFLAGS) as make would.
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=\s*(.*)$`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no LDFLAGS")
	}
	build := strings.Join(makeRule(mk, "build"), "\n")
	build = strings.ReplaceAll(build, "$(LDFLAGS)", m[1])
	if !strings.Contains(build, "go build") || !strings.Contains(build, "-ldflags") {
		t.Fatalf("Makefile: build does not run go build with -ldflags: %q", build)
	}
	stampFlags(t, "Makefile build", ldflagsX(build), "$(VERSION)", "$(COMMIT)")
	for _, v := range []string{"VERSION", "COMMIT"} {
		if !regexp.MustCompile(`(?m)^` + v + `\s*\?=\s*\$\(shell git `).MatchString(mk) {
			t.Errorf("Makefile: %s is not taken from git (and overridable with ?=)", v)
		}
	}
	image := strings.Join(makeRule(mk, "image"), "\n")
	for _, arg := range []string{"--build-arg VERSION=$(VERSION)", "--build-arg COMMIT=$(COMMIT)"} {
		if !strings.Contains(image, arg) {
			t.Errorf("Makefile: image does not pass %s to docker build: %q", arg, image)
		}
	}
	if check := strings.Join(makeRule(mk, "compose-check"), "\n"); !strings.Contains(check, "^TestDeploy") || !strings.Contains(check, "./cmd/herold") {
		t.Errorf("Makefile: compose-check does not run these tests: %q", check)
	}
}

func TestDeployDescribeBuild(t *testing.T) {
	t.Parallel()
	info := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8"}
		bi.Main.Version = version
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	for _, c := range []struct {
		name, version, commit string
		info                  *debug.BuildInfo
		want                  string
	}{
		{"stamped", "v1.2.3", "0123456789abcdef", info("(devel)"), "v1.2.3 commit 0123456789ab go1.26.8"},
		{"stamped wins over vcs", "v1.2.3", "0123456789abcdef", info("(devel)", "vcs.revision", "ffffffffffffffff", "vcs.modified", "true"), "v1.2.3 commit 0123456789ab go1.26.8"},
		{"vcs only", "", "", info("v0.0.0-20261201091500-a37fdca0e4d1+dirty", "vcs.revision", "a37fdca0e4d157", "vcs.modified", "true"), "v0.0.0-20261201091500-a37fdca0e4d1+dirty commit a37fdca0e4d1+dirty go1.26.8"},
		{"go install", "", "", info("v0.3.0"), "v0.3.0 go1.26.8"},
		{"nothing known", "", "", info("(devel)"), "(devel) go1.26.8"},
		{"no build info", "", "", nil, "(devel)"},
	} {
		if got := describeBuild(c.version, c.commit, c.info); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDeployCIWorkflowRunsCIScript(t *testing.T) {
	t.Parallel()
	var wf struct {
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			RunsOn    string `yaml:"runs-on"`
			Container string `yaml:"container"`
			Steps     []struct {
				Uses string `yaml:"uses"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(repoFile(t, ".github/workflows/ci.yml"), &wf); err != nil {
		t.Fatalf("ci.yml: %v", err)
	}
	for _, ev := range []string{"push", "pull_request"} {
		if _, ok := wf.On[ev]; !ok {
			t.Errorf("ci.yml: does not run on %s", ev)
		}
	}
	goLine := regexp.MustCompile(`(?m)^go ([0-9]+\.[0-9]+)`).FindSubmatch(repoFile(t, "go.mod"))
	found := false
	for name, job := range wf.Jobs {
		i := slices.IndexFunc(job.Steps, func(s struct {
			Uses string `yaml:"uses"`
			Run  string `yaml:"run"`
		}) bool {
			return strings.TrimSpace(s.Run) == "./.ci/run"
		})
		if i < 0 {
			continue
		}
		found = true
		if !strings.HasPrefix(job.RunsOn, "ubuntu-") {
			t.Errorf("ci.yml: job %s runs on %q, want an Ubuntu runner", name, job.RunsOn)
		}
		// .ci/run installs with apt-get as root: a Debian image with go.mod's Go.
		if want := "golang:" + string(goLine[1]); job.Container != want {
			t.Errorf("ci.yml: job %s runs in %q, want %s (go.mod)", name, job.Container, want)
		}
		if !slices.ContainsFunc(job.Steps[:i], func(s struct {
			Uses string `yaml:"uses"`
			Run  string `yaml:"run"`
		}) bool {
			return strings.HasPrefix(s.Uses, "actions/checkout@")
		}) {
			t.Errorf("ci.yml: job %s runs .ci/run before checking out", name)
		}
	}
	if !found {
		t.Error("ci.yml: no job runs ./.ci/run")
	}
	if fi, err := os.Stat(filepath.Join("..", "..", ".ci", "run")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf(".ci/run is not an executable file: %v", err)
	}
}

// `go install github.com/heroldhq/herold/cmd/herold@latest` (README) works
// only if go.mod names that module, cmd/herold is package main, and go.mod
// has no replace or exclude directive (go install pkg@version refuses them).
func TestDeployGoInstall(t *testing.T) {
	t.Parallel()
	gomod := string(repoFile(t, "go.mod"))
	m := regexp.MustCompile(`(?m)^module\s+(\S+)\s*$`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod: no module line")
	}
	if re := regexp.MustCompile(`(?m)^\s*(replace|exclude)\b`); re.MatchString(gomod) {
		t.Errorf("go.mod has a %s directive: go install %s/cmd/herold@latest would fail", re.FindStringSubmatch(gomod)[1], m[1])
	}
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "main" && !strings.HasSuffix(name, "_test.go") {
			t.Errorf("%s: package %s, want main", name, f.Name.Name)
		}
	}
	line := fmt.Sprintf("go install %s/cmd/herold@latest", m[1])
	if !strings.Contains(string(repoFile(t, "README.md")), line) {
		t.Errorf("README.md does not show %q", line)
	}
}
