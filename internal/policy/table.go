package policy

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the catalog as a table a compliance officer can review:
// one row per type, channel and legal-basis alternative, with the conditions
// the code enforces for it. `herold catalog check` prints it.
func (c *Catalog) WriteTable(w io.Writer) error {
	capText := "no frequency cap"
	if c.capMax > 0 {
		capText = fmt.Sprintf("frequency cap %d advertising messages per %s", c.capMax, c.capWindow)
	}
	if _, err := fmt.Fprintf(w, "catalog %s: blocked %s after contract end; %s; unconfirmed signups deleted after %s\n",
		c.version, c.blocking, capText, c.unconfirmed); err != nil {
		return err
	}
	for _, q := range c.quiet {
		if _, err := fmt.Fprintf(w, "quiet hours (recipient local time): %s\n", q); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tCLASS\tCHANNEL\tBASIS\tCONDITIONS")
	for _, t := range c.types {
		for _, ch := range t.Channels {
			for _, r := range t.rules[ch] {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Key, t.Class, ch, r.Kind.Basis(), c.conditions(t, r))
			}
		}
	}
	return tw.Flush()
}

// conditions describes in words what Decide checks for rule r of type t.
func (c *Catalog) conditions(t TypeSpec, r Rule) string {
	var parts []string
	switch r.Kind {
	case RuleContract:
		parts = append(parts, "contract active or ended less than "+c.blocking.String()+" ago")
	case RuleContractOrOpenRequest:
		parts = append(parts, "contract active or ended less than "+c.blocking.String()+" ago, or an open request (also after blocking)")
	case RuleLegitimateInterestExistingCustomer:
		parts = append(parts, "active contract with a recorded start", "address collected in a sale with the objection notice")
	case RuleLegitimateInterestActiveContract:
		parts = append(parts, "active contract with a recorded start")
	case RuleConsent:
		p := "consent to " + r.Purpose
		if r.Purpose == purposeNewsletter {
			p = "consent to the newsletter list (" + strings.Join(t.Lists, ", ") + ")"
		}
		if r.ExplicitChannel {
			p += " given for this very channel"
		} else {
			p += " for this channel or all"
		}
		parts = append(parts, p)
		if r.DoubleOptIn {
			parts = append(parts, "confirmed by double opt-in within "+c.unconfirmed.String()+" of the signup")
		}
		if r.VerifiedNumber {
			parts = append(parts, "verified number")
		}
	case RuleDoubleOptInRequest:
		parts = append(parts, "newsletter signup pending, less than "+c.unconfirmed.String()+" old")
	}
	if t.Advertising {
		end := "not after contract end"
		if r.Kind == RuleConsent {
			end = "ends with the contract if given during it"
		}
		parts = append(parts, "no objection", end)
	}
	if r.SMSFallback != "" {
		parts = append(parts, "sms fallback if "+string(r.SMSFallback)+" by sms is allowed")
	}
	if t.OptOutNotice {
		parts = append(parts, "opt-out notice")
	}
	s := strings.Join(parts, "; ")
	if r.Law != "" {
		s += " [" + r.Law + "]"
	}
	return s
}
