package email

import (
	"hash/maphash"
	"mime/quotedprintable"
	"strings"
	"sync"
)

// quotedPrintable appends s encoded as go-mail encodes a body
// (mime/quotedprintable, LF and CRLF become CRLF).
//
// The encoder keeps no state across a line break, so the encoding of s is
// the encodings of its lines (each with its "\n") one after the other
// (TestQuotedPrintableByLine checks it against one encoder over the whole
// text). The lines of a campaign's messages are mostly the same, so each
// line's encoding is looked up in the memo first.
func (c *Composer) quotedPrintable(b []byte, s string) []byte {
	var stack [8][2]string
	missed := stack[:0]
	c.lines.mu.RLock() // once per body, not per line: every sender goroutine reads here
	for s != "" {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line = s[:i+1]
		}
		s = s[len(line):]
		enc, ok := c.lines.m[line]
		if !ok {
			enc = encodeQP(line)
			missed = append(missed, [2]string{line, enc})
		}
		b = append(b, enc...)
	}
	c.lines.mu.RUnlock()
	if len(missed) > 0 {
		c.lines.putAll(missed)
	}
	return b
}

func encodeQP(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) + len(s)/8 + 4)
	w := quotedprintable.NewWriter(&sb)
	w.Write([]byte(s)) //nolint:errcheck // a strings.Builder does not fail
	w.Close()          //nolint:errcheck
	return sb.String()
}

// memo maps strings to their encodings, up to max entries; when full it
// starts again (the lines of the current campaign come back at once).
//
// A string is kept the second time it is put, not the first: a campaign's
// one-off lines (the greeting, the links with the recipient's token) would
// otherwise fill the memo within a few thousand messages, so that it started
// again every fraction of a second and the collector marked and dropped
// megabytes of lines that never came back (bench: the live heap swung
// between 12 and 45 MB). Of a one-off line only its hash is kept.
type memo struct {
	max  int
	mu   sync.RWMutex
	m    map[string]string
	seen map[uint64]struct{} // hashes of strings put once, up to max
	seed maphash.Seed
}

func (m *memo) get(k string) (string, bool) {
	m.mu.RLock()
	v, ok := m.m[k]
	m.mu.RUnlock()
	return v, ok
}

func (m *memo) put(k, v string) { m.putAll([][2]string{{k, v}}) }

func (m *memo) putAll(kv [][2]string) {
	m.mu.Lock()
	if m.seen == nil {
		m.seed = maphash.MakeSeed()
	}
	for _, e := range kv {
		h := maphash.String(m.seed, e[0])
		if _, again := m.seen[h]; !again {
			if m.seen == nil || len(m.seen) >= m.max {
				m.seen = make(map[uint64]struct{}, min(m.max, 256))
			}
			m.seen[h] = struct{}{}
			continue
		}
		delete(m.seen, h)
		if m.m == nil || len(m.m) >= m.max {
			m.m = make(map[string]string, min(m.max, 256))
		}
		m.m[e[0]] = e[1]
	}
	m.mu.Unlock()
}
