package render

import (
	"cmp"
	"errors"
	"fmt"
	htemplate "html/template"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	ttemplate "text/template"

	"github.com/heroldhq/herold/internal/message"
)

// Template parts, by the file name inside <locale>/<type>/.
const (
	partSubject = "email.subject"
	partHTML    = "email.html"
	partEmail   = "email.txt"
	partSMS     = "sms.txt"
	partWAText  = "whatsapp.txt"
	partWAVars  = "whatsapp.vars"
	partRCS     = "rcs.txt"
	partRCSVars = "rcs.vars"

	layoutHTML = "layout/email.html.tmpl"
	layoutText = "layout/email.txt.tmpl"
)

// channelParts lists the parts of each channel; the first ones are required.
func channelParts(ch message.Channel) (required, optional []string) {
	switch ch {
	case message.Email:
		return []string{partSubject, partEmail}, []string{partHTML}
	case message.SMS:
		return []string{partSMS}, nil
	case message.WhatsApp:
		return []string{partWAText}, []string{partWAVars}
	case message.RCS:
		return []string{partRCS}, []string{partRCSVars}
	}
	return nil, nil
}

// partPath is the file of one part.
func partPath(locale string, t message.Type, part string) string {
	return locale + "/" + string(t) + "/" + part + ".tmpl"
}

var templatePath = regexp.MustCompile(`^([a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)/([a-z0-9_-]+)/((email|sms|whatsapp|rcs)\.(subject|txt|html|vars))\.tmpl$`)

type setKey struct {
	locale string
	typ    message.Type
	ch     message.Channel
}

type textTemplate struct {
	t     *ttemplate.Template
	entry string
}

// set is the parsed templates of one type on one channel in one locale.
type set struct {
	parts     map[string]string // part → file, to parse the set again for tracing
	subject   textTemplate
	text      textTemplate
	vars      *textTemplate // whatsapp.vars or rcs.vars: the ContentVariables
	layout    *layout       // the rich content file, if any
	html      *htemplate.Template
	htmlEntry string
}

// loadFiles reads every file of fsys, then of dir (which wins on the same path).
func loadFiles(fsys fs.FS, dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	read := func(fsys fs.FS, origin string) error {
		return fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("read templates %s: %w", origin, err)
			}
			if strings.HasPrefix(d.Name(), ".") && path != "." {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || (!strings.HasSuffix(path, ".tmpl") && !strings.HasSuffix(path, ".json") && !strings.HasSuffix(path, ".yaml")) {
				return nil
			}
			b, err := fs.ReadFile(fsys, path)
			if err != nil {
				return fmt.Errorf("read templates %s: %w", origin, err)
			}
			files[path] = b
			return nil
		})
	}
	if err := read(fsys, "(embedded)"); err != nil {
		return nil, err
	}
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("templates dir %q: not a readable folder", dir)
		}
		if err := read(os.DirFS(dir), dir); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// parse builds every set; all problems are reported together.
func (r *Renderer) parse() error {
	groups := map[setKey]map[string]string{} // part → path
	var errs []error
	locales := map[string]bool{}
	for path := range r.files {
		if m := contentFilePath.FindStringSubmatch(path); m != nil {
			k := setKey{m[1], message.Type(m[2]), message.Channel(m[3])}
			if groups[k] == nil {
				groups[k] = map[string]string{}
			}
			groups[k][partContent] = path
			continue
		}
		if strings.HasSuffix(path, ".yaml") && !strings.HasPrefix(path, "samples/") {
			errs = append(errs, fmt.Errorf("template %s: want <locale>/<type>/whatsapp.content.yaml or rcs.content.yaml", path))
			continue
		}
		if !strings.HasSuffix(path, ".tmpl") || strings.HasPrefix(path, "layout/") {
			continue
		}
		if loc, name, ok := strings.Cut(path, "/"); ok && name == "partials.tmpl" && !strings.Contains(loc, "/") {
			continue
		}
		m := templatePath.FindStringSubmatch(path)
		if m == nil {
			errs = append(errs, fmt.Errorf("template %s: want <locale>/<type>/<channel>.<part>.tmpl", path))
			continue
		}
		ch := message.Channel(m[4])
		req, opt := channelParts(ch)
		if !slices.Contains(req, m[3]) && !slices.Contains(opt, m[3]) {
			errs = append(errs, fmt.Errorf("template %s: %s has no part %q", path, ch, m[5]))
			continue
		}
		k := setKey{m[1], message.Type(m[2]), ch}
		if groups[k] == nil {
			groups[k] = map[string]string{}
		}
		groups[k][m[3]] = path
		locales[m[1]] = true
	}
	r.sets = make(map[setKey]*set, len(groups))
	for k, parts := range groups {
		s, err := r.build(k, parts, funcs(k.locale))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.sets[k] = s
	}
	for l := range locales {
		r.available = append(r.available, l)
	}
	slices.Sort(r.available)
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	if len(errs) > 0 {
		return fmt.Errorf("templates: %w", errors.Join(errs...))
	}
	return nil
}

// partials returns the shared definitions of a locale, else of the default locale.
func (r *Renderer) partials(locale string) (string, []byte) {
	for _, l := range []string{locale, lang(locale), r.defaultLocale} {
		p := l + "/partials.tmpl"
		if b, ok := r.files[p]; ok {
			return p, b
		}
	}
	return "", nil
}

// build parses the set of k from its part files with the template functions fm.
func (r *Renderer) build(k setKey, parts map[string]string, fm map[string]any) (*set, error) {
	req, _ := channelParts(k.ch)
	for _, p := range req {
		if parts[p] == "" {
			return nil, fmt.Errorf("templates %s/%s: %s needs %s", k.locale, k.typ, k.ch, partPath(k.locale, k.typ, p))
		}
	}
	pname, pbody := r.partials(k.locale)
	s := &set{parts: parts}
	var err error
	textPart := map[message.Channel]string{message.Email: partEmail, message.SMS: partSMS, message.WhatsApp: partWAText, message.RCS: partRCS}[k.ch]
	layout := ""
	if k.ch == message.Email {
		layout = layoutText
	}
	if s.text, err = r.buildText(fm, pname, pbody, layout, parts[textPart]); err != nil {
		return nil, err
	}
	if k.ch == message.Email {
		if s.subject, err = r.buildText(fm, pname, pbody, "", parts[partSubject]); err != nil {
			return nil, err
		}
		if p := parts[partHTML]; p != "" {
			if s.html, s.htmlEntry, err = r.buildHTML(fm, pname, pbody, p); err != nil {
				return nil, err
			}
		}
	}
	if p := cmp.Or(parts[partWAVars], parts[partRCSVars]); p != "" {
		v, err := r.buildText(fm, pname, pbody, "", p)
		if err != nil {
			return nil, err
		}
		s.vars = &v
	}
	if p := parts[partContent]; p != "" {
		if s.layout, err = parseLayout(p, r.files[p]); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// bodyShim lets a layout call {{template "body" .}} while errors name the body's file.
func bodyShim(path string) string { return `{{template "` + path + `" .}}` }

func (r *Renderer) buildText(fm map[string]any, pname string, pbody []byte, layout, path string) (textTemplate, error) {
	t := ttemplate.New(path).Funcs(fm).Option("missingkey=error")
	if pbody != nil {
		if _, err := t.New(pname).Parse(string(pbody)); err != nil {
			return textTemplate{}, fmt.Errorf("template %s: %w", pname, err)
		}
	}
	entry := path
	if lb, ok := r.files[layout]; ok && layout != "" {
		if _, err := t.New(layout).Parse(string(lb)); err != nil {
			return textTemplate{}, fmt.Errorf("template %s: %w", layout, err)
		}
		if _, err := t.New("body").Parse(bodyShim(path)); err != nil {
			return textTemplate{}, fmt.Errorf("template %s: %w", path, err)
		}
		entry = "layout"
	}
	if _, err := t.Parse(string(r.files[path])); err != nil {
		return textTemplate{}, fmt.Errorf("template %s: %w", path, err)
	}
	return textTemplate{t: t, entry: entry}, nil
}

func (r *Renderer) buildHTML(fm map[string]any, pname string, pbody []byte, path string) (*htemplate.Template, string, error) {
	t := htemplate.New(path).Funcs(htemplate.FuncMap(fm)).Option("missingkey=error")
	if pbody != nil {
		if _, err := t.New(pname).Parse(string(pbody)); err != nil {
			return nil, "", fmt.Errorf("template %s: %w", pname, err)
		}
	}
	entry := path
	if lb, ok := r.files[layoutHTML]; ok {
		if _, err := t.New(layoutHTML).Parse(string(lb)); err != nil {
			return nil, "", fmt.Errorf("template %s: %w", layoutHTML, err)
		}
		if _, err := t.New("body").Parse(bodyShim(path)); err != nil {
			return nil, "", fmt.Errorf("template %s: %w", path, err)
		}
		entry = "layout"
	}
	if _, err := t.Parse(string(r.files[path])); err != nil {
		return nil, "", fmt.Errorf("template %s: %w", path, err)
	}
	return t, entry, nil
}

// execText runs a text template and tidies the result: LF line ends, no
// trailing blanks (except the "-- " signature separator), at most one empty
// line in a row, no leading or trailing space.
func (r *Renderer) execText(t textTemplate, v *view) (string, error) {
	var b strings.Builder
	if err := t.t.ExecuteTemplate(&b, t.entry, v); err != nil {
		return "", r.execError(err)
	}
	return tidy(b.String()), nil
}

func tidy(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		if l != "-- " {
			l = strings.TrimRight(l, " \t\r")
		}
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

var (
	execAt     = regexp.MustCompile(`^template: ([^:]+):(\d+):(\d+): executing "[^"]*" at <([^>]*)>: (.*)$`)
	action     = regexp.MustCompile(`(?s)\{\{-?\s*(.*?)\s*-?\}\}`)
	noEntry    = regexp.MustCompile(`map has no entry for key "([^"]*)"`)
	nilPointer = regexp.MustCompile(`nil pointer evaluating [^.]*\.(\w+)`)
	fieldChain = regexp.MustCompile(`\$?\.[A-Za-z0-9_.]+`)
	funcError  = regexp.MustCompile(`error calling \w+: (.*)$`)
)

// execError turns a template execution error into ErrMissingData naming the
// key, e.g. "invoice.amount", and the template line. Values never appear.
func (r *Renderer) execError(err error) error {
	var ee ttemplate.ExecError
	msg := err.Error()
	if !errors.As(err, &ee) {
		var he *htemplate.Error
		if errors.As(err, &he) {
			return fmt.Errorf("html template: %w", err)
		}
		if !strings.HasPrefix(msg, "template: ") {
			return err
		}
	}
	m := execAt.FindStringSubmatch(msg)
	if m == nil {
		return fmt.Errorf("%w: %s", ErrMissingData, msg)
	}
	file, line, col, expr, detail := m[1], m[2], m[3], m[4], m[5]
	chain := fieldChain.FindString(expr)
	key := strings.TrimPrefix(chain, ".Data.")
	key = strings.TrimPrefix(strings.TrimPrefix(key, "$"), ".")
	if strings.HasPrefix(chain, ".") && !strings.HasPrefix(chain, ".Data.") && !strings.HasPrefix(chain, ".Brand.") {
		// Relative to a {{with}} or {{range}}: name the key from the data's root.
		if scope := scopeAt(string(r.files[file]), line, col); scope != "" {
			key = scope + "." + key
		}
	}
	missing := ""
	if k := noEntry.FindStringSubmatch(detail); k != nil {
		missing = k[1]
	} else if k := nilPointer.FindStringSubmatch(detail); k != nil {
		missing = k[1]
	}
	if missing != "" {
		elems := strings.Split(key, ".")
		if i := lastIndex(elems, missing); i >= 0 {
			key = strings.Join(elems[:i+1], ".")
		} else if key == "" {
			key = missing
		} else {
			key += "." + missing
		}
		return fmt.Errorf("%w %q (%s:%s)", ErrMissingData, key, file, line)
	}
	if k := funcError.FindStringSubmatch(detail); k != nil {
		detail = k[1]
	}
	return fmt.Errorf("%w %q: %s (%s:%s)", ErrMissingData, key, detail, file, line)
}

// scopeAt returns the data path that "." stands for at line:col of a template
// source, following the {{with}} and {{range}} blocks open there, e.g.
// "usage" or "newsletter.items[]"; "" at the root or when unknown.
func scopeAt(src, line, col string) string {
	ln, err1 := strconv.Atoi(line)
	cn, err2 := strconv.Atoi(col)
	if err1 != nil || err2 != nil || src == "" {
		return ""
	}
	offset := 0
	for range ln - 1 {
		i := strings.IndexByte(src[offset:], '\n')
		if i < 0 {
			return ""
		}
		offset += i + 1
	}
	offset = min(offset+cn, len(src))
	var stack []string // data path of each open block; "" for blocks that keep "."
	for _, m := range action.FindAllStringSubmatch(src[:offset], -1) {
		f := strings.Fields(m[1])
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "if", "block", "define":
			stack = append(stack, inherit(stack))
		case "with", "range":
			stack = append(stack, blockPath(f[0], f[1:], inherit(stack)))
		case "end":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	return inherit(stack)
}

// inherit is the data path "." has inside the innermost open block.
func inherit(stack []string) string {
	if len(stack) == 0 {
		return ""
	}
	return stack[len(stack)-1]
}

// blockPath is the data path "." takes inside {{with args}} or {{range args}}.
func blockPath(kind string, args []string, parent string) string {
	if len(args) >= 3 && args[0] == "index" {
		return join(pathOf(args[1], parent), strings.Trim(args[2], `"`))
	}
	for i := len(args) - 1; i >= 0; i-- {
		if strings.HasPrefix(args[i], ".") || strings.HasPrefix(args[i], "$.") {
			p := pathOf(args[i], parent)
			if kind == "range" {
				p += "[]"
			}
			return p
		}
	}
	return parent
}

func pathOf(field, parent string) string {
	switch {
	case strings.HasPrefix(field, ".Data."):
		return strings.TrimPrefix(field, ".Data.")
	case strings.HasPrefix(field, "$.Data."):
		return strings.TrimPrefix(field, "$.Data.")
	case field == ".":
		return parent
	case strings.HasPrefix(field, "."):
		return join(parent, strings.TrimPrefix(field, "."))
	}
	return parent
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func lastIndex(elems []string, s string) int {
	for i := len(elems) - 1; i >= 0; i-- {
		if elems[i] == s {
			return i
		}
	}
	return -1
}
