package notice

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

func render(w io.Writer, d document, opts Options) error {
	if opts.OmitTitle {
		d.Title = ""
	}
	if opts.Format == HTML {
		if err := htmlTmpl.Execute(w, d); err != nil {
			return fmt.Errorf("render notice: %w", err)
		}
		return nil
	}
	_, err := io.WriteString(w, markdown(d))
	if err != nil {
		return fmt.Errorf("render notice: %w", err)
	}
	return nil
}

// markdown writes d as CommonMark: the title as a level-2 heading (the
// notice is a section of a larger privacy notice), sections at level 3,
// types at level 4, fields as bold labels.
func markdown(d document) string {
	var b strings.Builder
	para := func(s string) { b.WriteString(mdEscape(s) + "\n\n") }
	if d.Title != "" {
		b.WriteString("## " + mdEscape(d.Title) + "\n\n")
	}
	for _, p := range d.Intro {
		para(p)
	}
	for _, s := range d.Sections {
		b.WriteString("### " + mdEscape(s.Title) + "\n\n")
		for _, e := range s.Entries {
			if e.Title != "" {
				b.WriteString("#### " + mdEscape(e.Title) + "\n\n")
			}
			for _, f := range e.Fields {
				paras := f.Paras
				if f.Label != "" {
					lead := "**" + mdEscape(f.Label) + ":**"
					if len(paras) > 0 {
						lead += " " + mdEscape(paras[0])
						paras = paras[1:]
					}
					b.WriteString(lead + "\n\n")
				}
				for _, p := range paras {
					para(p)
				}
				for _, it := range f.Items {
					b.WriteString("- " + mdEscape(it) + "\n")
				}
				if len(f.Items) > 0 {
					b.WriteString("\n")
				}
			}
		}
	}
	for _, p := range d.Closing {
		para(p)
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// mdEscape keeps catalog text from being read as Markdown markup.
var mdEscape = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", `&lt;`, ">", `&gt;`, "#", `\#`).Replace

// htmlTmpl writes d as an HTML fragment to embed in a privacy page; every
// text is escaped by html/template.
var htmlTmpl = template.Must(template.New("notice").Parse(`<section class="privacy-communication" lang="{{.Lang}}">
{{- if .Title}}
<h2>{{.Title}}</h2>
{{- end}}
{{- range .Intro}}
<p>{{.}}</p>
{{- end}}
{{- range .Sections}}
<section id="{{.ID}}">
<h3>{{.Title}}</h3>
{{- range .Entries}}
<article id="{{.ID}}">
{{- if .Title}}
<h4>{{.Title}}</h4>
{{- end}}
<dl>
{{- range .Fields}}
{{- if .Label}}
<dt>{{.Label}}</dt>
{{- end}}
<dd>
{{- range .Paras}}
<p>{{.}}</p>
{{- end}}
{{- if .Items}}
<ul>
{{- range .Items}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
</dd>
{{- end}}
</dl>
</article>
{{- end}}
</section>
{{- end}}
{{- range .Closing}}
<p>{{.}}</p>
{{- end}}
</section>
`))
