package render

import "unicode/utf8"

// SMS encodings.
const (
	GSM7 = "GSM-7"
	UCS2 = "UCS-2"
)

// gsm7Basic is the GSM 03.38 default alphabet; every character costs one septet.
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Extension is the GSM 03.38 extension table; every character costs two
// septets (escape plus character).
const gsm7Extension = "\f^{}\\[~]|€"

// gsmSeptets is the compiled lookup table of both alphabets: rune → septets.
var gsmSeptets = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, c := range gsm7Basic {
		m[c] = 1
	}
	for _, c := range gsm7Extension {
		m[c] = 2
	}
	return m
}()

// gsmCost returns the septets r costs in GSM-7, or 0 when r has no GSM-7 form.
func gsmCost(r rune) int { return gsmSeptets[r] }

// SMSInfo returns the encoding an SMS with text needs (GSM-7 when every
// character is in the GSM 03.38 alphabet or its extension table, else UCS-2)
// and the number of segments it is sent in: up to 160 septets (70 UTF-16 units)
// fit one message; longer texts are split into segments of 153 septets (67
// units), never splitting an escape sequence or a surrogate pair. Empty text
// has zero segments.
func SMSInfo(text string) (encoding string, segments int) {
	if text == "" {
		return GSM7, 0
	}
	costs := make([]int, 0, utf8.RuneCountInString(text))
	gsm := true
	for _, r := range text {
		c := gsmCost(r)
		if c == 0 {
			gsm = false
			break
		}
		costs = append(costs, c)
	}
	single, multi := 160, 153
	encoding = GSM7
	if !gsm {
		encoding, single, multi = UCS2, 70, 67
		costs = costs[:0]
		for _, r := range text {
			if r > 0xFFFF {
				costs = append(costs, 2) // surrogate pair
			} else {
				costs = append(costs, 1)
			}
		}
	}
	total := 0
	for _, c := range costs {
		total += c
	}
	if total <= single {
		return encoding, 1
	}
	segments, used := 1, 0
	for _, c := range costs {
		if used+c > multi {
			segments++
			used = 0
		}
		used += c
	}
	return encoding, segments
}
