package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/config"
)

// readmeBlock is one ```sh block of README.md that calls curl.
type readmeBlock struct {
	line int // where it starts in README.md
	text string
}

// readmeCurlBlocks returns the README's shell blocks that call curl, in order.
func readmeCurlBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeBlock
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		start := i + 1
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		text := strings.Join(body, "\n")
		if regexp.MustCompile(`(?m)^\s*curl\s`).MatchString(text) {
			out = append(out, readmeBlock{line: start, text: text})
		}
	}
	return out
}

// expectComment marks a curl call whose answer the README says is an error,
// on the line before it: "# expect: 409".
var expectComment = regexp.MustCompile(`^\s*#\s*expect:\s*(\d{3})\s*$`)

// shellPrelude wraps curl so that an answer of 400 or more fails the block,
// unless the README marked the call with "# expect: <status>".
const shellPrelude = `set -eo pipefail
curl() {
	local out code
	out=$(command curl -sS -w '\n%{http_code}' "$@") || return 1
	code=${out##*$'\n'}
	printf '%s\n' "${out%$'\n'*}"
	if [ -n "$README_EXPECT" ]; then
		if [ "$code" != "$README_EXPECT" ]; then echo "README: want HTTP $README_EXPECT, got $code" >&2; return 1; fi
	elif [ "$code" -ge 400 ]; then
		echo "README: HTTP $code" >&2; return 1
	fi
}
`

// Every curl example of the README, pasted in order into a shell against
// `herold dev` with the printed key, answers without an error the README
// does not announce.
func TestReadmeCurlExamples(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is not installed: apt-get install -y curl (the README's examples use it)")
	}
	blocks := readmeCurlBlocks(t)
	if len(blocks) < 3 {
		t.Fatalf("found %d curl blocks in README.md; the test reads the wrong file or the README lost its examples", len(blocks))
	}
	tb := runCommand(t, map[string]string{"HEROLD_HTTP_ADDR": "127.0.0.1:0", "HEROLD_OUTBOX_DIR": t.TempDir()}, "dev")
	m := apiKeyLine.FindStringSubmatch(tb.stdout.String())
	if m == nil {
		t.Fatalf("no API key line:\n%s", tb.stdout)
	}
	key, base := m[1], "http://"+tb.addr
	t.Logf("running %d curl blocks of README.md", len(blocks))
	for _, b := range blocks {
		script := rewriteBlock(b.text, key, base)
		cmd := exec.CommandContext(t.Context(), "bash", "-c", shellPrelude+script)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "KEY="+key)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("README.md line %d: %v\n%s\n--- output:\n%s%s", b.line, err, b.text, stdout.String(), stderr.String())
		}
	}
}

// rewriteBlock makes a README block runnable here: the printed key instead of
// the placeholder, this Herold's address instead of the default one, and
// "# expect: N" turned into the expected status of the next call.
func rewriteBlock(text, key, base string) string {
	var out []string
	expect := ""
	for _, line := range strings.Split(text, "\n") {
		if m := expectComment.FindStringSubmatch(line); m != nil {
			expect = m[1]
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "KEY=") {
			line = "KEY=" + key
		}
		line = strings.ReplaceAll(line, "http://127.0.0.1:8080", base)
		if expect != "" && strings.HasPrefix(strings.TrimSpace(line), "curl ") {
			line = fmt.Sprintf("README_EXPECT=%s %s", expect, strings.TrimSpace(line))
			expect = ""
		} else if strings.HasPrefix(strings.TrimSpace(line), "curl ") {
			line = "README_EXPECT= " + strings.TrimSpace(line)
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// The README's configuration table is what `herold config` prints: a new or
// renamed setting that is not pasted in (make readme-config) fails here.
func TestReadmeConfigTableIsCurrent(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- BEGIN CONFIG TABLE")
	if !ok {
		t.Fatal("README.md has no BEGIN CONFIG TABLE marker")
	}
	_, rest, _ = strings.Cut(rest, "-->\n")
	table, _, ok := strings.Cut(rest, "<!-- END CONFIG TABLE")
	if !ok {
		t.Fatal("README.md has no END CONFIG TABLE marker")
	}
	if want := config.Table(&config.Config{}); strings.TrimSpace(table) != strings.TrimSpace(want) {
		t.Errorf("README.md's configuration table is out of date: run make readme-config")
	}
}

// readmeBlocksAfter returns the first n fenced blocks after the line holding
// marker, with their languages.
func readmeBlocksAfter(t *testing.T, readme, marker string, n int) (langs, bodies []string) {
	t.Helper()
	_, rest, ok := strings.Cut(readme, marker)
	if !ok {
		t.Fatalf("README.md has no %q", marker)
	}
	for range n {
		var lang, body string
		if _, rest, ok = strings.Cut(rest, "```"); !ok {
			t.Fatalf("README.md has fewer than %d code blocks after %q", n, marker)
		}
		lang, rest, _ = strings.Cut(rest, "\n")
		if body, rest, ok = strings.Cut(rest, "```"); !ok {
			t.Fatalf("README.md: a block after %q does not end", marker)
		}
		langs, bodies = append(langs, lang), append(bodies, body)
	}
	return langs, bodies
}

// The rich content example of the README is the embedded template (comments
// aside), and its preview is what the command prints, token aside.
func TestReadmeRichContent(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	uncommented := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "#") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	for marker, path := range map[string]string{
		"The default `messenger_offer` card on RCS": "../../templates/de/messenger_offer/rcs.content.yaml",
		"and its variables (`rcs.vars.tmpl`":        "../../templates/de/messenger_offer/rcs.vars.tmpl",
	} {
		if _, body := readmeBlocksAfter(t, readme, marker, 1); body[0] != uncommented(path) {
			t.Errorf("README.md's block after %q is not %s:\n%s", marker, path, body[0])
		}
	}

	langs, blocks := readmeBlocksAfter(t, readme, "**Preview** what the phone shows", 2)
	if langs[0] != "sh" || langs[1] != "text" {
		t.Fatalf("preview blocks are %q, want sh and text", langs)
	}
	cmd, want := blocks[0], blocks[1]
	env := map[string]string{}
	var args []string
	for _, f := range strings.Fields(strings.ReplaceAll(cmd, "\\\n", " ")) {
		switch k, v, ok := strings.Cut(f, "="); {
		case ok && args == nil && strings.HasPrefix(k, "HEROLD_"):
			env[k] = v
		case f == "go" || f == "run" || f == "./cmd/herold":
		default:
			args = append(args, f)
		}
	}
	out, _, err := runOnce(t, env, args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	got := regexp.MustCompile(`/unsubscribe/[A-Za-z0-9_-]+`).ReplaceAllString(out, "/unsubscribe/<token>")
	if got != want {
		t.Errorf("README.md's preview output is not what %v prints:\n%s", args, got)
	}
}
