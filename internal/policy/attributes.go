package policy

import "regexp"

// A type's attributes: the recipient's custom attributes (CRM fields such as
// product or tariff) that its templates may show, declared in the catalog
// like data categories, e.g.
//
//	- key: promo_offer
//	  attributes: [product, tariff]
//
// Attributes are profile data the person gave the company or that arose from
// the contract; declaring them per type keeps what a message may say about a
// person reviewable in the one file a compliance officer reads. They need no
// consent of their own (usage and traffic data belong in the usage and traffic
// categories, which do): the policy never looks at them.

// attributePattern is a valid attribute key (as recipient attributes).
var attributePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// parseAttributes checks a type's attributes list: valid keys, none twice.
func parseAttributes(l *located, where string, names []string) []string {
	seen := make(map[string]bool, len(names))
	var out []string
	for _, n := range names {
		switch {
		case !attributePattern.MatchString(n):
			l.add(where, "attributes: %q is not a valid attribute key (lowercase a-z 0-9 _, starting with a letter, at most 64)", n)
		case seen[n]:
			l.add(where, "attributes: %q listed twice", n)
		default:
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
