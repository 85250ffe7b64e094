package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Sample is realistic data of one message type, for previews, golden tests
// and the segment check: templates/samples/<type>.json, or
// samples/<type>.<locale>.json where the wording of the data differs.
type Sample struct {
	Profile map[string]any            `json:"profile"`
	Data    map[string]map[string]any `json:"data"`
}

// Sample returns the sample data of type t for locale, or false when there is none.
func (r *Renderer) Sample(t message.Type, locale string) (Sample, bool, error) {
	for _, p := range []string{"samples/" + string(t) + "." + locale + ".json", "samples/" + string(t) + "." + lang(locale) + ".json", "samples/" + string(t) + ".json"} {
		b, ok := r.files[p]
		if !ok {
			continue
		}
		s, err := ParseSample(b)
		if err != nil {
			return Sample{}, false, fmt.Errorf("%s: %w", p, err)
		}
		return s, true, nil
	}
	return Sample{}, false, nil
}

// ParseSample reads sample data: {"profile": {…}, "data": {"<category>": {…}}}.
// Unknown top-level fields are errors, so a misspelt "data" is caught.
func ParseSample(b []byte) (Sample, error) {
	var s Sample
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber() // as the API decodes template data: numbers keep their digits
	if err := dec.Decode(&s); err != nil {
		return Sample{}, fmt.Errorf("sample data: %w", err)
	}
	return s, nil
}

// PreviewRequest builds the Request of a preview or check: the decision is
// synthesized as allowed on the type's first rule for ch, with the type's data
// categories and opt-out notice from the catalog.
func PreviewRequest(spec policy.TypeSpec, ch message.Channel, locale string, s Sample) Request {
	dec := policy.Decision{Allowed: true, Reason: policy.Allowed, DataCategories: spec.DataCategories,
		OptOutNotice: spec.OptOutNotice, Type: spec.Key, Channel: ch, Recipient: "preview",
		SMSFallback: ch == message.RCS && hasSMSFallback(spec)}
	if rules := spec.Rules(ch); len(rules) > 0 {
		dec.Basis = rules[0].Kind.Basis()
		dec.Rule = string(spec.Key) + "/" + string(ch) + "/" + string(rules[0].Kind)
	}
	return Request{MessageID: "preview", Type: spec.Key, Channel: ch, Locale: locale, Recipient: "preview",
		Profile: s.Profile, Data: s.Data, Decision: dec}
}

// Check verifies that every type of cat has templates for every channel it
// may use in every required locale (error), and renders each SMS with the
// sample data to warn when it needs more than the configured number of
// segments, when sample data is missing or does not render, and when a
// WhatsApp type has no approved ContentSid.
func (r *Renderer) Check(cat *policy.Catalog) (warnings []string, err error) {
	var errs []error
	for _, spec := range cat.Types() {
		for _, ch := range spec.Channels {
			for _, l := range r.locales {
				if !r.Has(spec.Key, ch, l) {
					req, _ := channelParts(ch)
					errs = append(errs, fmt.Errorf("type %s: channel %s: locale %s: no template (want %s)", spec.Key, ch, l, partPath(l, spec.Key, req[0])))
					continue
				}
				if ch == message.WhatsApp && r.contentSIDs[string(spec.Key)+":"+l] == "" && r.contentSIDs[string(spec.Key)] == "" {
					warnings = append(warnings, fmt.Sprintf("type %s: whatsapp: locale %s: no approved ContentSid configured (HEROLD_WHATSAPP_CONTENT_SIDS); only the text fallback is rendered", spec.Key, l))
				}
				if ch != message.SMS && !(ch == message.RCS && hasSMSFallback(spec)) {
					continue
				}
				s, ok, err := r.Sample(spec.Key, l)
				if err != nil {
					warnings = append(warnings, fmt.Sprintf("type %s: %v", spec.Key, err))
					continue
				}
				if !ok {
					warnings = append(warnings, fmt.Sprintf("type %s: %s: locale %s: no sample data (templates/samples/%s.json): SMS length not checked", spec.Key, ch, l, spec.Key))
					continue
				}
				c, err := r.Render(PreviewRequest(spec, ch, l, s))
				if err != nil {
					warnings = append(warnings, fmt.Sprintf("type %s: %s: locale %s: sample does not render: %v", spec.Key, ch, l, err))
					continue
				}
				if c.SMSSegments > r.maxSegments {
					warnings = append(warnings, fmt.Sprintf("type %s: %s: locale %s: sample renders as %d %s segments (%d characters), more than %d",
						spec.Key, ch, l, c.SMSSegments, c.SMSEncoding, len([]rune(c.Text)), r.maxSegments))
				}
			}
		}
	}
	return warnings, errors.Join(errs...)
}

func hasSMSFallback(spec policy.TypeSpec) bool {
	for _, rule := range spec.Rules(message.RCS) {
		if rule.SMSFallback != "" {
			return true
		}
	}
	return false
}
