package config

import (
	"slices"
	"strings"
)

// TestEnvPrefix starts the variables that Herold's own tests read (such as
// HEROLD_TEST_REDIS_URL). They are not settings, and a developer's shell may
// well export them while running Herold, so UnknownEnv never reports them.
const TestEnvPrefix = "HEROLD_TEST_"

// Unknown is a HEROLD_* environment variable that names no setting: most
// often a typo, which would otherwise change nothing and say nothing.
type Unknown struct {
	Name string // the variable as set, e.g. HEROLD_SMTP_HOTS
	// Closest is the known variable it was probably meant to be, or "" when
	// none is close enough to be a plausible typo.
	Closest string
	// NoFile is set for <ENV>_FILE where <ENV> is a known setting that is not
	// a secret: only secrets are read from files.
	NoFile bool
}

// String says what is wrong in words, for a log line or a terminal.
func (u Unknown) String() string {
	switch {
	case u.NoFile:
		return u.Name + " is not a Herold setting: " + u.Closest + " is not a secret and is not read from a file; set it directly"
	case u.Closest != "":
		return u.Name + " is not a Herold setting (did you mean " + u.Closest + "?)"
	}
	return u.Name + " is not a Herold setting"
}

// UnknownEnv returns, sorted by name, every HEROLD_* variable in environ (in
// os.Environ's "NAME=value" form) that names none of settings, no
// <ENV>_FILE of a secret among them, and none of extra (variables read
// outside the configuration, such as a client command's). Variables starting
// with TestEnvPrefix are never reported. Only names are looked at: values may
// be secrets and are never part of the result.
func UnknownEnv(environ []string, settings []Setting, extra ...string) []Unknown {
	known := make(map[string]bool, 2*len(settings)+len(extra))
	plain := map[string]bool{} // settings without a _FILE variant
	for _, s := range settings {
		known[s.Env] = true
		if s.Was != "" {
			known[s.Was] = true // DeprecatedEnv's business
		}
		if s.Secret {
			known[s.Env+"_FILE"] = true
		} else {
			plain[s.Env] = true
		}
	}
	for _, e := range extra {
		known[e] = true
	}
	candidates := make([]string, 0, len(known))
	for k := range known {
		candidates = append(candidates, k)
	}
	slices.Sort(candidates) // ties in distance go to the same name on every run

	var out []Unknown
	seen := map[string]bool{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "HEROLD_") || strings.HasPrefix(name, TestEnvPrefix) || known[name] || seen[name] {
			continue
		}
		seen[name] = true
		if base, ok := strings.CutSuffix(name, "_FILE"); ok && plain[base] {
			out = append(out, Unknown{Name: name, Closest: base, NoFile: true})
			continue
		}
		out = append(out, Unknown{Name: name, Closest: closest(name, candidates)})
	}
	slices.SortFunc(out, func(a, b Unknown) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Deprecated is a setting's former name found in the environment.
type Deprecated struct {
	Name string // the former name, e.g. HEROLD_PAGES_BRAND_NAME
	Use  string // the setting's name now, e.g. HEROLD_BRAND_NAME
	// Ignored is set when Use is set too, which then wins.
	Ignored bool
}

// String says what to do, for a log line or a terminal.
func (d Deprecated) String() string {
	if d.Ignored {
		return d.Name + " is deprecated and ignored: " + d.Use + " is set"
	}
	return d.Name + " is deprecated: rename it to " + d.Use
}

// DeprecatedEnv returns, sorted by name, every former setting name set in
// environ: it is read while the new name is unset, ignored when both are.
func DeprecatedEnv(environ []string, settings []Setting) []Deprecated {
	set := map[string]bool{}
	for _, kv := range environ {
		if name, v, _ := strings.Cut(kv, "="); v != "" {
			set[name] = true
		}
	}
	var out []Deprecated
	for _, s := range settings {
		if s.Was != "" && set[s.Was] {
			out = append(out, Deprecated{Name: s.Was, Use: s.Env, Ignored: set[s.Env]})
		}
	}
	slices.SortFunc(out, func(a, b Deprecated) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// closest returns the candidate nearest to name, or "" when even that one is
// too far to be a typo of it: more edits than a third of the part after
// HEROLD_ (at least one), so that HEROLD_FOO suggests nothing at all rather
// than some unrelated setting.
func closest(name string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := editDistance(name, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(1, len(strings.TrimPrefix(name, "HEROLD_"))/3)
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of neighbours each
// count one, since swapped letters (HOTS for HOST) are the commonest typo.
// Variable names are ASCII, so bytes are letters.
func editDistance(a, b string) int {
	// Three rows of the dynamic programme: i-2, i-1 and i.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
