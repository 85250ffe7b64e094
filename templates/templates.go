// Package templates embeds Herold's default message templates and the sample
// data used for previews, golden tests and the segment check.
//
// Layout of the tree (HEROLD_TEMPLATES_DIR uses the same one; a file there
// replaces the embedded file of the same path, a new file adds a type or locale):
//
//	layout/email.html.tmpl          HTML shell of every e-mail: header, greeting, body, signature, imprint
//	layout/email.txt.tmpl           plain-text shell of every e-mail
//	<locale>/partials.tmpl         greeting, closing, team and footer wording of one locale
//	<locale>/<type>/email.subject.tmpl
//	<locale>/<type>/email.html.tmpl  body only; the layout wraps it
//	<locale>/<type>/email.txt.tmpl   body only; the layout wraps it
//	<locale>/<type>/sms.txt.tmpl
//	<locale>/<type>/whatsapp.txt.tmpl   text fallback (outbox, session messages)
//	<locale>/<type>/whatsapp.vars.tmpl  "key=value" lines: variables of the approved ContentSid
//	<locale>/<type>/whatsapp.content.yaml  the approved Twilio Content template as the phone shows it
//	<locale>/<type>/rcs.txt.tmpl        plain text (no Content SID, outbox)
//	<locale>/<type>/rcs.vars.tmpl       variables of the RCS rich card's ContentSid
//	<locale>/<type>/rcs.content.yaml    the RCS card and its twilio/text SMS fallback
//	samples/<type>.json              sample profile and data of one type
package templates

import (
	"embed"
	"io/fs"
)

//go:embed layout de en samples
var files embed.FS

// FS returns the embedded default templates.
func FS() fs.FS { return files }
