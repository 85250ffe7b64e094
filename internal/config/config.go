// Package config loads Herold's configuration from HEROLD_* environment
// variables, files named by *_FILE variables (for secrets) and command-line
// flags, in rising order of precedence.
//
// Every setting is a tagged struct field:
//
//	Addr string `env:"HEROLD_HTTP_ADDR" default:"127.0.0.1:8080" help:"..."`
//
// A field tagged was:"HEROLD_OLD_NAME" still reads its former name while the
// new one is unset (DeprecatedEnv says so at start-up). A field tagged
// secret:"true" also reads <ENV>_FILE (which wins over <ENV>),
// and is masked wherever the configuration is printed or logged. The same tags
// produce the flags (HEROLD_HTTP_ADDR → --http-addr) and the README table
// (`herold config`), so the three never drift apart.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Setting describes one configuration field.
type Setting struct {
	Env     string
	Flag    string
	Default string
	Help    string
	Secret  bool
	// Was is the variable's former name, still read (with a deprecation
	// warning, see DeprecatedEnv) while the current one is unset.
	Was   string
	field reflect.Value
}

// Validator is implemented by sections that check more than each value's syntax.
type Validator interface{ Validate() error }

// Settings lists every tagged field reachable from ptr (a pointer to a struct).
func Settings(ptr any) []Setting {
	var out []Setting
	walk(reflect.ValueOf(ptr).Elem(), &out)
	return out
}

func walk(v reflect.Value, out *[]Setting) {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		env, ok := f.Tag.Lookup("env")
		if !ok {
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[time.Time]() {
				walk(fv, out)
			}
			continue
		}
		*out = append(*out, Setting{
			Env:     env,
			Flag:    strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "HEROLD_")), "_", "-"),
			Default: f.Tag.Get("default"),
			Help:    f.Tag.Get("help"),
			Secret:  f.Tag.Get("secret") == "true",
			Was:     f.Tag.Get("was"),
			field:   fv,
		})
	}
}

// Load fills ptr from defaults, then getenv, then the *_FILE variants of
// secrets, then the flags already parsed into fs (only those set). Every bad
// value is reported with its variable name; then each section's Validate runs.
func Load(ptr any, getenv func(string) string, fs *flag.FlagSet) error {
	var errs []error
	setFlags := map[string]string{}
	if fs != nil {
		fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = f.Value.String() })
	}
	for _, s := range Settings(ptr) {
		raw, from := s.Default, "default"
		if v := getenv(s.Env); v != "" {
			raw, from = v, s.Env
		} else if v := getenv(s.Was); s.Was != "" && v != "" {
			raw, from = v, s.Was
		}
		if s.Secret {
			if path := getenv(s.Env + "_FILE"); path != "" {
				b, err := os.ReadFile(path)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s_FILE: %w", s.Env, err))
					continue
				}
				raw, from = strings.TrimRight(string(b), "\r\n"), s.Env+"_FILE"
			}
		}
		if v, ok := setFlags[s.Flag]; ok {
			raw, from = v, "--"+s.Flag
		}
		if err := set(s.field, raw); err != nil {
			name := from
			if from == "default" {
				name = s.Env + " default"
			}
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, validate(reflect.ValueOf(ptr))...)
	}
	return errors.Join(errs...)
}

func validate(v reflect.Value) []error {
	var errs []error
	if val, ok := v.Interface().(Validator); ok {
		if err := val.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	e := v.Elem()
	for i := range e.NumField() {
		f := e.Field(i)
		if e.Type().Field(i).IsExported() && f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[time.Time]() {
			errs = append(errs, validate(f.Addr())...)
		}
	}
	return errs
}

// RegisterFlags adds a flag for every setting to fs. Values are only applied by Load.
func RegisterFlags(ptr any, fs *flag.FlagSet) {
	for _, s := range Settings(ptr) {
		help := s.Help + " (env " + s.Env + ")"
		fs.String(s.Flag, s.Default, help)
	}
}

func set(f reflect.Value, raw string) error {
	switch f.Interface().(type) {
	case time.Duration:
		if raw == "" {
			f.SetInt(0)
			return nil
		}
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("invalid duration %q (e.g. 30s, 5m, 2h)", raw)
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Int, reflect.Int64:
		if raw == "" {
			f.SetInt(0)
			return nil
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid integer %q", raw)
		}
		f.SetInt(n)
	case reflect.Float64:
		if raw == "" {
			f.SetFloat(0)
			return nil
		}
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", raw)
		}
		f.SetFloat(n)
	case reflect.Bool:
		if raw == "" {
			f.SetBool(false)
			return nil
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", raw)
		}
		f.SetBool(b)
	case reflect.Slice:
		var items []string
		for it := range strings.SplitSeq(raw, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		f.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported setting type %s", f.Type())
	}
	return nil
}

// Attrs returns every setting as log attributes with secrets masked, so the
// configuration can be logged once at start-up.
func Attrs(ptr any) []slog.Attr {
	var out []slog.Attr
	for _, s := range Settings(ptr) {
		v := fmt.Sprint(s.field.Interface())
		if s.Secret && v != "" {
			v = "***"
		}
		if strings.HasPrefix(strings.ToLower(v), "redis") {
			v = maskURLPassword(v)
		}
		out = append(out, slog.String(s.Flag, v))
	}
	return out
}

// maskURLPassword hides the password of a URL such as redis://:pw@host.
func maskURLPassword(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return u
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + "://" + user + ":***" + rest[at:]
}

// Table renders the settings as a Markdown table for the README.
func Table(ptr any) string {
	var b strings.Builder
	b.WriteString("| variable | flag | default | meaning |\n|---|---|---|---|\n")
	for _, s := range Settings(ptr) {
		env := "`" + s.Env + "`"
		if s.Secret {
			env += " (or `" + s.Env + "_FILE`)"
		}
		def := s.Default
		if def != "" {
			def = "`" + def + "`"
		}
		help := s.Help
		if s.Was != "" {
			help += " (formerly `" + s.Was + "`, still read with a warning)"
		}
		fmt.Fprintf(&b, "| %s | `--%s` | %s | %s |\n", env, s.Flag, def, help)
	}
	return b.String()
}

// Set sets the setting of ptr named by its variable env to raw, parsed as
// Load parses it, for tools that run Herold with a few settings of their
// own (`herold bench`, `herold load`). It does not validate.
func Set(ptr any, env, raw string) error {
	for _, s := range Settings(ptr) {
		if s.Env == env {
			if err := set(s.field, raw); err != nil {
				return fmt.Errorf("%s: %w", env, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: no such setting", env)
}
