// Package media knows what a media URL in a WhatsApp or RCS message may
// point to: the file types and sizes the providers document, so Herold
// refuses what they would refuse before it sends anything.
//
// The limits, from the providers' documentation:
//
//   - WhatsApp (Meta's Cloud API, as Twilio passes it on): images JPEG and
//     PNG up to 5 MB; video MP4 and 3GPP (H.264 and AAC) up to 16 MB; PDF
//     documents up to Twilio's message limit of 16 MB (Meta takes 100 MB,
//     Twilio's API for WhatsApp stops at 16 MB). Twilio's Content API adds
//     that a card's media URL must show the file type in the URL itself.
//   - RCS (Twilio's accepted content types): images JPEG, PNG and GIF and
//     video MP4 and MPEG up to 16 MB; when the message may fall back from RCS
//     to SMS or MMS, Twilio rejects anything above the MMS limit of 5 MB.
//
// Both providers fetch the URL themselves and reject a Content-Type header
// that does not match the file, so Check looks at the URL (scheme, length,
// type by extension) without the network, and Probe asks the server with a
// HEAD request (type and size) for `herold template preview`.
package media

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/message"
)

// ErrRefused is wrapped by every error of Check and Probe.
var ErrRefused = errors.New("media refused")

// MaxURL is the longest media URL accepted (RCS agents take 2,000 characters).
const MaxURL = 2000

const mb = 1 << 20

// Type is one accepted media type of a channel.
type Type struct {
	MIME       string
	Extensions []string // lower case, with the dot
	MaxBytes   int64
}

// limits are the accepted types by channel (see the package doc for the sources).
var limits = map[message.Channel][]Type{
	message.WhatsApp: {
		{MIME: "image/jpeg", Extensions: []string{".jpg", ".jpeg"}, MaxBytes: 5 * mb},
		{MIME: "image/png", Extensions: []string{".png"}, MaxBytes: 5 * mb},
		{MIME: "video/mp4", Extensions: []string{".mp4"}, MaxBytes: 16 * mb},
		{MIME: "video/3gpp", Extensions: []string{".3gp", ".3gpp"}, MaxBytes: 16 * mb},
		{MIME: "application/pdf", Extensions: []string{".pdf"}, MaxBytes: 16 * mb},
	},
	message.RCS: {
		{MIME: "image/jpeg", Extensions: []string{".jpg", ".jpeg"}, MaxBytes: 16 * mb},
		{MIME: "image/png", Extensions: []string{".png"}, MaxBytes: 16 * mb},
		{MIME: "image/gif", Extensions: []string{".gif"}, MaxBytes: 16 * mb},
		{MIME: "video/mp4", Extensions: []string{".mp4"}, MaxBytes: 16 * mb},
		{MIME: "video/mpeg", Extensions: []string{".mpeg", ".mpg"}, MaxBytes: 16 * mb},
	},
}

// mmsLimit is what Twilio accepts when an RCS message may fall back to SMS or MMS.
const mmsLimit = 5 * mb

// Types returns the media types ch accepts, with the size limit that
// applies when the message may fall back to SMS; nil for a channel that
// takes no media.
func Types(ch message.Channel, smsFallback bool) []Type {
	out := make([]Type, 0, len(limits[ch]))
	for _, t := range limits[ch] {
		t.Extensions = append([]string(nil), t.Extensions...)
		if smsFallback && t.MaxBytes > mmsLimit {
			t.MaxBytes = mmsLimit
		}
		out = append(out, t)
	}
	return out
}

// Check refuses a media URL ch would refuse by its form alone: not an
// absolute https URL with a host, longer than MaxURL, or without the file
// extension of a type the channel accepts. It returns the type the URL names.
func Check(ch message.Channel, raw string, smsFallback bool) (Type, error) {
	types := Types(ch, smsFallback)
	if len(types) == 0 {
		return Type{}, fmt.Errorf("%w: %s takes no media", ErrRefused, ch)
	}
	if len(raw) > MaxURL {
		return Type{}, fmt.Errorf("%w: the media URL has %d characters, more than %d", ErrRefused, len(raw), MaxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || !strings.Contains(u.Hostname(), ".") {
		return Type{}, fmt.Errorf("%w: the media URL %q is not a public https URL (the provider fetches it itself)", ErrRefused, raw)
	}
	ext := strings.ToLower(path.Ext(u.Path))
	for _, t := range types {
		for _, e := range t.Extensions {
			if e == ext {
				return t, nil
			}
		}
	}
	return Type{}, fmt.Errorf("%w: the media URL %q does not end in a file type %s accepts (%s)", ErrRefused, raw, ch, extensions(types))
}

func extensions(types []Type) string {
	var all []string
	for _, t := range types {
		all = append(all, t.Extensions...)
	}
	return strings.Join(all, " ")
}

// Info is what the server said about a media URL.
type Info struct {
	MIME  string
	Bytes int64 // -1 when the server did not say
}

// Probe checks raw as Check does, then asks its server with a HEAD request
// (bounded by ctx and 10 seconds): the answer must be 200, with the
// Content-Type of the type the URL names, and a Content-Length within the
// channel's limit. A missing Content-Length is no error (Info.Bytes is -1):
// the provider will measure the file itself.
func Probe(ctx context.Context, c *http.Client, ch message.Channel, raw string, smsFallback bool) (Info, error) {
	want, err := Check(ch, raw, smsFallback)
	if err != nil {
		return Info{}, err
	}
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, raw, nil)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %s could not be fetched: %v", ErrRefused, raw, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Info{}, fmt.Errorf("%w: %s answers %d, not 200", ErrRefused, raw, resp.StatusCode)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	info := Info{MIME: mt, Bytes: -1}
	if mt != want.MIME && !(want.MIME == "image/jpeg" && mt == "image/jpg") {
		return info, fmt.Errorf("%w: %s is served as %q, but its name says %s (the provider rejects the mismatch)", ErrRefused, raw, mt, want.MIME)
	}
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		info.Bytes = n
		if n > want.MaxBytes {
			return info, fmt.Errorf("%w: %s has %d bytes, more than %s accepts for %s (%d MB)", ErrRefused, raw, n, ch, want.MIME, want.MaxBytes/mb)
		}
	}
	return info, nil
}
