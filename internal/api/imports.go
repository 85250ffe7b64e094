package api

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// Limits of POST /v1/recipients/import. A bigger file goes in several
// requests (`herold import` sends 20,000 lines per request): an import
// request must finish within the server's read timeout.
const (
	maxImportBody     = 64 << 20
	maxImportLine     = 64 << 10
	maxImportReported = 1000
	importChunk       = 500 // lines parsed together; also the write batch
	importWorkers     = 3   // parsers at once
)

// importEventNamespace derives the ids of imported consent events, so the
// same event imported twice has the same id and is appended once.
var importEventNamespace = uuid.MustParse("5b8f8e1e-2d0c-4f4a-9a57-8f0c1f3c6a11")

// ImportReport says what an import did. Lines counts the data lines read
// (not the CSV header, not blank lines): Accepted + Rejected = Lines.
type ImportReport struct {
	Lines     int               `json:"lines"`
	Accepted  int               `json:"accepted"`
	Created   int               `json:"created"`
	Updated   int               `json:"updated"`
	Events    int               `json:"events"` // consent events appended
	Rejected  int               `json:"rejected"`
	Errors    []ImportLineError `json:"errors,omitempty"`
	Truncated bool              `json:"errors_truncated,omitempty"` // more bad lines than listed
	Elapsed   string            `json:"elapsed"`
}

// ImportLineError is one bad line: its number in the file (1 is the first
// line, the CSV header included) and each bad field.
type ImportLineError struct {
	Line   int             `json:"line"`
	Fields []invalid.Field `json:"fields"`
}

// importLine is one NDJSON line: a profile as PUT /v1/recipients/{id} takes
// it, with its id, and optionally its consent events.
type importLine struct {
	recipient.Input
	Consents []consentEventInput `json:"consents,omitempty"`
}

// importRecipients answers POST /v1/recipients/import: NDJSON (one profile
// per line, optionally with "consents") or CSV (a header row naming the
// columns below), streamed and upserted in batches. Every bad line is
// reported by number with its fields; the good lines are kept. Consent
// events are appended to the ledger with their proof fields, each once
// however often the file is imported.
func (a *Audience) importRecipients(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, apikey.ScopeRecipients) {
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	csvFormat := false
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "":
	case "text/csv", "application/csv":
		csvFormat = true
	default:
		WriteError(w, Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/x-ndjson or text/csv, not %q", r.Header.Get("Content-Type")))
		return
	}
	t0 := time.Now()
	imp := &importer{a: a, by: keyName(r), now: a.now()}
	body := http.MaxBytesReader(w, r.Body, maxImportBody)
	var src lineSource
	if csvFormat {
		cs, err := newCSVSource(body)
		if err != nil {
			WriteError(w, err)
			return
		}
		src = cs
	} else {
		src = &ndjsonSource{br: bufio.NewReaderSize(body, maxImportLine)}
	}
	rep, err := imp.run(r, src)
	rep.Elapsed = time.Since(t0).Round(time.Millisecond).String()
	var large *http.MaxBytesError
	switch {
	case errors.As(err, &large):
		WriteError(w, Errorf(http.StatusRequestEntityTooLarge, "body_too_large",
			"import exceeds %d bytes: the lines before the limit are imported (%d); send the rest in another request (herold import splits files)",
			maxImportBody, rep.Accepted))
	case err != nil:
		a.fail(w, r, "recipient", err)
	case rep.Accepted == 0 && rep.Rejected > 0:
		p := &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "no valid line; nothing was imported"}
		for _, le := range rep.Errors {
			for _, f := range le.Fields {
				p.Fields = append(p.Fields, FieldError{Field: "line " + strconv.Itoa(le.Line) + ": " + f.Field, Message: f.Message})
			}
		}
		WriteError(w, p)
	default:
		a.log().InfoContext(r.Context(), "recipients imported", "lines", rep.Lines, "created", rep.Created, "updated", rep.Updated,
			"events", rep.Events, "rejected", rep.Rejected, "took", rep.Elapsed)
		WriteJSON(w, http.StatusOK, rep)
	}
}

// rawLine is one data line as read: its number and its text (NDJSON) or cells (CSV).
type rawLine struct {
	n     int
	text  []byte
	cells []string
	err   error // the line could not be read (too long, malformed CSV)
}

// lineSource yields the data lines of an import, in order; io.EOF at the end.
type lineSource interface {
	next() (rawLine, error)
	parse(imp *importer, l rawLine) (importLine, error)
}

type importer struct {
	a   *Audience
	by  string
	now time.Time
}

// parsed is one chunk of lines, parsed.
type parsed struct {
	items []store.ImportItem
	lines []int // of each item
	bad   []ImportLineError
}

// run reads, parses (in parallel, importWorkers at once) and writes (in
// order, a batch at a time) every line of src.
func (imp *importer) run(r *http.Request, src lineSource) (ImportReport, error) {
	ctx := r.Context()
	var rep ImportReport
	type job struct {
		lines []rawLine
		out   chan parsed
	}
	jobs := make(chan job)
	order := make(chan chan parsed, 2*importWorkers)
	var readErr error
	var wg sync.WaitGroup
	done := make(chan struct{})
	defer func() {
		close(done)
		wg.Wait()
	}()
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		for {
			var lines []rawLine
			var err error
			for len(lines) < importChunk {
				var l rawLine
				if l, err = src.next(); err != nil {
					break
				}
				lines = append(lines, l)
			}
			if len(lines) > 0 {
				out := make(chan parsed, 1)
				select {
				case order <- out:
				case <-done:
					return
				}
				select {
				case jobs <- job{lines: lines, out: out}:
				case <-done:
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
		}
	})
	for range importWorkers {
		wg.Go(func() {
			for j := range jobs {
				j.out <- imp.parseChunk(src, j.lines)
			}
		})
	}
	bad := func(le ImportLineError) {
		rep.Rejected++
		if len(rep.Errors) < maxImportReported {
			rep.Errors = append(rep.Errors, le)
		} else {
			rep.Truncated = true
		}
	}
	for out := range order {
		var p parsed
		select {
		case p = <-out:
		case <-ctx.Done():
			return rep, ctx.Err()
		}
		rep.Lines += len(p.items) + len(p.bad)
		for _, le := range p.bad {
			bad(le)
		}
		if len(p.items) == 0 {
			continue
		}
		vet := func(i int, ledger []consent.Event) error {
			return confirmationProblem(imp.a.Catalog, ledger, p.items[i].Events, func(k int) string { return fmt.Sprintf("consents[%d].", k) })
		}
		results, err := imp.a.Store.ImportRecipients(ctx, p.items, vet)
		if err != nil {
			return rep, err
		}
		for i, res := range results {
			if res.Err != nil {
				bad(ImportLineError{Line: p.lines[i], Fields: lineFields(res.Err)})
				continue
			}
			rep.Accepted++
			rep.Events += res.Events
			if res.Created {
				rep.Created++
			} else {
				rep.Updated++
			}
		}
	}
	// Errors come in line order per chunk and chunks in order: keep it so.
	slices.SortStableFunc(rep.Errors, func(x, y ImportLineError) int { return x.Line - y.Line })
	return rep, readErr
}

// lineFields turns an item's error into field errors.
func lineFields(err error) []invalid.Field {
	var p *Problem
	if errors.As(err, &p) && len(p.Fields) > 0 {
		return p.Fields
	}
	if ie, ok := invalid.As(err); ok {
		return ie.Fields
	}
	return []invalid.Field{{Field: "(line)", Message: err.Error()}}
}

// parseChunk parses lines into import items; a bad line becomes its errors.
func (imp *importer) parseChunk(src lineSource, lines []rawLine) parsed {
	var p parsed
	for _, l := range lines {
		if l.err != nil {
			p.bad = append(p.bad, ImportLineError{Line: l.n, Fields: lineFields(l.err)})
			continue
		}
		in, err := src.parse(imp, l)
		if err != nil {
			p.bad = append(p.bad, ImportLineError{Line: l.n, Fields: lineFields(err)})
			continue
		}
		item, err := imp.item(in)
		if err != nil {
			p.bad = append(p.bad, ImportLineError{Line: l.n, Fields: lineFields(err)})
			continue
		}
		p.items = append(p.items, item)
		p.lines = append(p.lines, l.n)
	}
	return p
}

// item validates one line's profile and events with the rules of PUT
// /v1/recipients/{id} and POST …/consents.
func (imp *importer) item(in importLine) (store.ImportItem, error) {
	var bad Fields
	if in.ID == "" {
		bad.Add("id", "missing: every line needs the recipient's id")
		return store.ImportItem{}, bad.Err()
	}
	rec, err := recipient.Parse(in.ID, in.Input, imp.a.Region)
	if ie, ok := invalid.As(err); ok {
		for _, f := range ie.Fields {
			bad.Add(f.Field, "%s", f.Message)
		}
	} else if err != nil {
		return store.ImportItem{}, err
	}
	if len(in.Consents) > maxEventsPerRequest {
		bad.Add("consents", "at most %d events per line", maxEventsPerRequest)
	}
	h := &Recipients{}
	events := make([]consent.Event, 0, len(in.Consents))
	for i, ce := range in.Consents {
		e := h.parseEvent(&bad, fmt.Sprintf("consents[%d].", i), ce, imp.now, imp.by)
		e.ID = uuid.NewSHA1(importEventNamespace, []byte(strings.Join([]string{in.ID, string(e.Kind), e.Purpose, e.Channel,
			e.At.Format(time.RFC3339Nano), string(e.Source), e.TextVersion, e.Text}, "\x00"))).String()
		events = append(events, e)
	}
	if err := bad.Err(); err != nil {
		return store.ImportItem{}, err
	}
	return store.ImportItem{Recipient: rec, Events: events}, nil
}

// ---- NDJSON

type ndjsonSource struct {
	br   *bufio.Reader
	line int
}

func (s *ndjsonSource) next() (rawLine, error) {
	for {
		raw, err := s.br.ReadSlice('\n')
		s.line++
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = s.br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return rawLine{}, err
			}
			return rawLine{n: s.line, err: fmt.Errorf("line longer than %d bytes", maxImportLine)}, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return rawLine{}, err
		}
		text := bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("\ufeff")))
		if len(text) > 0 {
			return rawLine{n: s.line, text: bytes.Clone(text)}, nil
		}
		if errors.Is(err, io.EOF) {
			return rawLine{}, io.EOF
		}
	}
}

func (s *ndjsonSource) parse(_ *importer, l rawLine) (importLine, error) {
	var in importLine
	dec := json.NewDecoder(bytes.NewReader(l.text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, lineJSONError(err)
	}
	if dec.More() {
		return in, fieldProblem("(line)", "more than one JSON value on the line")
	}
	return in, nil
}

// lineJSONError names the field of a JSON decoding error, as the API does
// for request bodies.
func lineJSONError(err error) error {
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ):
		return fieldProblem(cmp.Or(typ.Field, "(line)"), "must be %s, not %s", typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fieldProblem(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
	}
	return fieldProblem("(line)", "not a JSON object: %v", err)
}

// ---- CSV

// The CSV columns. Every column is optional but id and kind; an empty cell
// leaves the field out. attributes.<key> columns hold one attribute each
// ("a|b" is a list); consent.<purpose>.<channel> columns hold an event kind
// (grant, withdraw, object, doi_request, doi_confirm) recorded with the
// consent_* columns of the same line.
var csvColumns = []string{"id", "kind", "salutation", "first_name", "last_name", "company", "email",
	"email_collected_in_sale", "emails", "mobile", "mobile_verified_at", "locale", "time_zone", "street", "extra",
	"postal_code", "city", "country", "contract_started_at", "contract_ended_at", "open_request",
	"consent_at", "consent_source", "consent_ip", "consent_user_agent", "consent_text", "consent_text_version"}

type csvSource struct {
	r      *csv.Reader
	header []string
}

func newCSVSource(body io.Reader) (*csvSource, error) {
	cr := csv.NewReader(body)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, Errorf(http.StatusBadRequest, "invalid_request", "empty CSV: want a header row naming the columns")
	}
	if err != nil {
		var large *http.MaxBytesError
		if errors.As(err, &large) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "import exceeds %d bytes", maxImportBody)
		}
		return nil, fieldProblem("line 1", "malformed CSV: %v", err)
	}
	var bad invalid.List
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		header[i] = h
		switch {
		case seen[h]:
			bad.Add("line 1: "+h, "column given twice")
		case slices.Contains(csvColumns, h):
		case strings.HasPrefix(h, "attributes."):
			if !recipient.ValidAttributeKey(strings.TrimPrefix(h, "attributes.")) {
				bad.Add("line 1: "+h, "not a valid attribute key (lowercase a-z 0-9 _)")
			}
		case strings.HasPrefix(h, "consent."):
			purpose, ch, ok := csvConsentColumn(h)
			if !ok {
				bad.Add("line 1: "+h, "want consent.<purpose>.<channel>, e.g. consent.advertising.email")
			} else if err := consent.ValidatePurpose(purpose); err != nil {
				bad.Add("line 1: "+h, "%v", err)
			} else if _, err := message.ParseChannel(ch); err != nil && ch != consent.AllChannels {
				bad.Add("line 1: "+h, `%v or "all"`, err)
			}
		default:
			bad.Add("line 1: "+h, "unknown column (want %s, attributes.<key> or consent.<purpose>.<channel>)", strings.Join(csvColumns, ", "))
		}
		seen[h] = true
	}
	if !seen["id"] {
		bad.Add("line 1: id", "missing: the header needs an id column")
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	return &csvSource{r: cr, header: header}, nil
}

// csvConsentColumn splits consent.<purpose>.<channel>; the purpose may hold
// a colon (newsletter:news) but no dot.
func csvConsentColumn(h string) (purpose, ch string, ok bool) {
	rest := strings.TrimPrefix(h, "consent.")
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

func (s *csvSource) next() (rawLine, error) {
	for {
		rec, err := s.r.Read()
		line, _ := s.r.FieldPos(0)
		if errors.Is(err, io.EOF) {
			return rawLine{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return rawLine{n: pe.StartLine, err: fmt.Errorf("malformed CSV: %v", pe.Err)}, nil
		}
		if err != nil {
			return rawLine{}, err
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) != len(s.header) {
			return rawLine{n: line, err: fmt.Errorf("%d cells, the header has %d", len(rec), len(s.header))}, nil
		}
		return rawLine{n: line, cells: rec}, nil
	}
}

func (s *csvSource) parse(_ *importer, l rawLine) (importLine, error) {
	var in importLine
	var bad Fields
	var email *recipient.EmailInput
	ev := consentEventInput{}
	type kindCol struct{ purpose, ch, kind string }
	var consents []kindCol
	for i, h := range s.header {
		v := strings.TrimSpace(l.cells[i])
		if v == "" {
			continue
		}
		switch h {
		case "id":
			in.ID = v
		case "kind":
			in.Kind = v
		case "salutation":
			in.Salutation = v
		case "first_name":
			in.FirstName = v
		case "last_name":
			in.LastName = v
		case "company":
			in.Company = v
		case "email":
			if email == nil {
				email = &recipient.EmailInput{}
			}
			email.Address = v
		case "email_collected_in_sale":
			b, err := csvBool(v)
			if err != nil {
				bad.Add(h, "%v", err)
			}
			if email == nil {
				email = &recipient.EmailInput{}
			}
			email.CollectedInSale = b
		case "emails":
			for a := range strings.SplitSeq(v, "|") {
				if a = strings.TrimSpace(a); a != "" {
					in.Emails = append(in.Emails, recipient.EmailInput{Address: a})
				}
			}
		case "mobile":
			if in.Mobile == nil {
				in.Mobile = &recipient.MobileInput{}
			}
			in.Mobile.Number = v
		case "mobile_verified_at":
			if in.Mobile == nil {
				in.Mobile = &recipient.MobileInput{}
			}
			in.Mobile.VerifiedAt = v
		case "locale":
			in.Locale = v
		case "time_zone":
			in.TimeZone = v
		case "street", "extra", "postal_code", "city", "country":
			if in.PostalAddress == nil {
				in.PostalAddress = &recipient.PostalAddress{}
			}
			p := in.PostalAddress
			switch h {
			case "street":
				p.Street = v
			case "extra":
				p.Extra = v
			case "postal_code":
				p.PostalCode = v
			case "city":
				p.City = v
			case "country":
				p.Country = v
			}
		case "contract_started_at", "contract_ended_at":
			if in.Contract == nil {
				in.Contract = &recipient.ContractInput{}
			}
			if h == "contract_started_at" {
				in.Contract.StartedAt = v
			} else {
				in.Contract.EndedAt = v
			}
		case "open_request":
			b, err := csvBool(v)
			if err != nil {
				bad.Add(h, "%v", err)
			}
			in.OpenRequest = b
		case "consent_at":
			ev.At = v
		case "consent_source":
			ev.Source = v
		case "consent_ip":
			ev.IP = v
		case "consent_user_agent":
			ev.UserAgent = v
		case "consent_text":
			ev.Text = v
		case "consent_text_version":
			ev.TextVersion = v
		default:
			if key, ok := strings.CutPrefix(h, "attributes."); ok {
				if in.Attributes == nil {
					in.Attributes = map[string]any{}
				}
				if strings.Contains(v, "|") {
					var list []any
					for item := range strings.SplitSeq(v, "|") {
						list = append(list, strings.TrimSpace(item))
					}
					in.Attributes[key] = list
				} else {
					in.Attributes[key] = v
				}
			} else if purpose, ch, ok := csvConsentColumn(h); ok {
				consents = append(consents, kindCol{purpose, ch, v})
			}
		}
	}
	if email != nil {
		in.Emails = append([]recipient.EmailInput{*email}, in.Emails...)
	}
	for _, c := range consents {
		e := ev
		e.Kind, e.Purpose, e.Channel = c.kind, c.purpose, c.ch
		in.Consents = append(in.Consents, e)
	}
	if err := bad.Err(); err != nil {
		return in, err
	}
	return in, nil
}

func csvBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "1", "ja", "y":
		return true, nil
	case "false", "no", "0", "nein", "n":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}
