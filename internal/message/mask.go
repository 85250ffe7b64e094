package message

import "strings"

// MaskEmail hides all but the first letter of the local part and the domain's
// top level, e.g. "m***@***.de", for the rare places where a hint is useful.
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	tld := ""
	if dot := strings.LastIndexByte(addr, '.'); dot > at {
		tld = addr[dot:]
	}
	return addr[:1] + "***@***" + tld
}

// MaskPhone keeps only the last two digits of a number, e.g. "+49***12".
func MaskPhone(e164 string) string {
	if len(e164) < 6 {
		return "***"
	}
	return e164[:3] + "***" + e164[len(e164)-2:]
}
