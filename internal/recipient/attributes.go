package recipient

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/heroldhq/herold/internal/invalid"
)

// Limits of a recipient's custom attributes. They keep one profile small
// (it is read for every message and every segment evaluation) and stop a CRM
// export from parking whole documents in Herold.
const (
	MaxAttributes       = 50   // keys per recipient
	MaxAttributeString  = 256  // bytes of one string value
	MaxAttributeList    = 50   // items of one list value
	MaxAttributesJSON   = 4096 // bytes of all attributes encoded as JSON
	maxAttributeKeySize = 64
)

// attributeKeyPattern is what an attribute key looks like: the same shape as
// a catalog key, so segment expressions and templates can name it bare
// (attributes.product, .Data.attributes.product).
var attributeKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ValidAttributeKey reports whether k may name an attribute.
func ValidAttributeKey(k string) bool { return attributeKeyPattern.MatchString(k) }

// Attributes are a recipient's custom attributes, as a CRM knows them:
// string keys with a scalar (string, number, boolean) or a list of scalars
// as value, e.g. {"product": ["dsl", "mobile"], "tariff": "L", "lines": 2}.
// Segments select on them and templates of types that declare them (the
// catalog's attributes) may show them. Numbers are float64, as JSON has them.
type Attributes map[string]any

// parseAttributes validates and normalises attributes as sent, naming each
// bad one as attributes.<key> (attributes.<key>[i] for a list item).
func parseAttributes(bad *invalid.List, in map[string]any) Attributes {
	if len(in) == 0 {
		return nil
	}
	if len(in) > MaxAttributes {
		bad.Add("attributes", "%d attributes, at most %d", len(in), MaxAttributes)
		return nil
	}
	out := make(Attributes, len(in))
	for _, k := range slices.Sorted(maps.Keys(in)) {
		field := "attributes." + k
		if !ValidAttributeKey(k) {
			if len(k) > maxAttributeKeySize {
				field = "attributes." + k[:maxAttributeKeySize] + "…"
			}
			bad.Add(field, "not a valid attribute key (lowercase a-z 0-9 _, starting with a letter, at most %d)", maxAttributeKeySize)
			continue
		}
		switch v := in[k].(type) {
		case []any:
			if len(v) > MaxAttributeList {
				bad.Add(field, "list of %d items, at most %d", len(v), MaxAttributeList)
				continue
			}
			list := make([]any, 0, len(v))
			for i, item := range v {
				s, ok := scalar(bad, fmt.Sprintf("%s[%d]", field, i), item)
				if ok {
					list = append(list, s)
				}
			}
			out[k] = list
		default:
			if s, ok := scalar(bad, field, v); ok {
				out[k] = s
			}
		}
	}
	if n := jsonSize(out); n > MaxAttributesJSON {
		bad.Add("attributes", "%d bytes as JSON, at most %d", n, MaxAttributesJSON)
	}
	return out
}

// jsonSize is about what a encodes to in JSON, counted without encoding
// (a bulk import checks every profile): strings count their bytes, quotes
// and the characters JSON escapes, numbers their shortest form.
func jsonSize(a Attributes) int {
	n := 2
	for k, v := range a {
		n += len(k) + 4 // "k":,
		if l, ok := v.([]any); ok {
			n += 2
			for _, item := range l {
				n += scalarSize(item) + 1
			}
			continue
		}
		n += scalarSize(v)
	}
	return n
}

func scalarSize(v any) int {
	switch x := v.(type) {
	case string:
		n := len(x) + 2
		for i := 0; i < len(x); i++ {
			switch x[i] {
			case '"', '\\':
				n++
			case '<', '>', '&':
				n += 5 // \u003c
			}
		}
		return n
	case float64:
		return len(strconv.FormatFloat(x, 'g', -1, 64))
	case bool:
		if x {
			return 4
		}
		return 5
	}
	return 4
}

// scalar checks one attribute value: a string within the limit, a finite
// number or a boolean. json.Number (a decoder with UseNumber) becomes float64.
func scalar(bad *invalid.List, field string, v any) (any, bool) {
	switch x := v.(type) {
	case string:
		switch {
		case len(x) > MaxAttributeString:
			bad.Add(field, "longer than %d bytes", MaxAttributeString)
		case !utf8.ValidString(x):
			bad.Add(field, "not valid UTF-8")
		case strings.ContainsFunc(x, unicode.IsControl):
			bad.Add(field, "contains control characters")
		default:
			return x, true
		}
	case bool:
		return x, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			bad.Add(field, "not a finite number")
			return nil, false
		}
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			bad.Add(field, "not a finite number")
			return nil, false
		}
		return f, true
	case nil:
		bad.Add(field, "null: leave the attribute out (or remove it with a merge patch)")
	case map[string]any:
		bad.Add(field, "an object: want a string, number, boolean or a list of them")
	case []any:
		bad.Add(field, "a list inside a list: want a list of strings, numbers or booleans")
	default:
		bad.Add(field, "want a string, number, boolean or a list of them")
	}
	return nil, false
}

// Clone returns a deep copy of a.
func (a Attributes) Clone() Attributes {
	if a == nil {
		return nil
	}
	out := make(Attributes, len(a))
	for k, v := range a {
		if l, ok := v.([]any); ok {
			v = slices.Clone(l)
		}
		out[k] = v
	}
	return out
}

// Values returns the attribute k as a list of scalars: a list as it is, a
// scalar as a list of one, nothing for a missing key.
func (a Attributes) Values(k string) []any {
	v, ok := a[k]
	if !ok {
		return nil
	}
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}
