package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// importOptions are the knobs of `herold import`.
type importOptions struct {
	base, key string
	format    string // ndjson or csv
	batch     int    // data lines per request
	parallel  int    // requests at once
}

func importCommand(ctx context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold import", flag.ContinueOnError)
	o := importOptions{}
	fs.StringVar(&o.base, "url", cmp.Or(inv.getenv("HEROLD_URL"), inv.getenv("HEROLD_PUBLIC_URL"), "http://127.0.0.1:8080"), "Herold's base URL (env HEROLD_URL)")
	fs.StringVar(&o.key, "key", inv.getenv("HEROLD_API_KEY"), "API key with the recipients scope (env HEROLD_API_KEY)")
	fs.StringVar(&o.format, "format", "", "ndjson or csv (default: from the file name; .csv is CSV, anything else NDJSON)")
	fs.IntVar(&o.batch, "batch", 20_000, "data lines per request")
	fs.IntVar(&o.parallel, "parallel", 2, "requests at once")
	about := "Import recipients from FILE (NDJSON: one profile per line as PUT /v1/recipients/{id} takes it, with\n" +
		"its id and optionally \"consents\"; CSV: a header row naming the columns, see docs/marketing.md) through\n" +
		"POST /v1/recipients/import, with a progress bar. Lines are upserted: importing a file again updates\n" +
		"the profiles and appends each consent event once. Bad lines are listed by number; the good ones are\n" +
		"kept. Exit status 1 when a line was not imported. FILE - reads standard input."
	// The file may come before or after the flags.
	var path string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		path, args = args[0], args[1:]
	}
	if err := parseFlags(fs, inv, args, about, " FILE"); err != nil {
		return err
	}
	if path == "" && fs.NArg() > 0 {
		path = fs.Arg(0)
	}
	switch {
	case path == "":
		return usageErrorf("herold import: missing FILE (see --help)")
	case o.key == "":
		return usageErrorf("herold import: no API key: set HEROLD_API_KEY or pass --key")
	case o.batch < 1 || o.parallel < 1:
		return usageErrorf("herold import: --batch and --parallel must be positive")
	}
	if o.format == "" {
		o.format = "ndjson"
		if strings.EqualFold(filepath.Ext(path), ".csv") {
			o.format = "csv"
		}
	}
	if o.format != "ndjson" && o.format != "csv" {
		return usageErrorf("herold import: --format is ndjson or csv, not %q", o.format)
	}
	var in io.Reader = os.Stdin
	size := int64(-1)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		in = f
	}
	bar := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(inv.stderr),
		progressbar.OptionSetVisibility(isTerminal(inv.stderr)),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	t0 := time.Now()
	sum, err := runImport(ctx, &http.Client{Timeout: 10 * time.Minute}, o, in, func(bytes int64, s importSummary) {
		bar.Describe(fmt.Sprintf("%d recipients, %d rejected", s.Accepted, s.Rejected))
		_ = bar.Add64(bytes)
	})
	_ = bar.Finish()
	elapsed := time.Since(t0)
	printImportSummary(inv.stdout, sum, elapsed)
	if err != nil {
		return err
	}
	if sum.Rejected > 0 {
		what := fmt.Sprintf("%d lines were", sum.Rejected)
		if sum.Rejected == 1 {
			what = "1 line was"
		}
		return &exitError{code: 1, err: fmt.Errorf("%s not imported (listed above)", what)}
	}
	return nil
}

// importSummary adds up the reports of an import's requests.
type importSummary struct {
	Lines, Accepted, Created, Updated, Events, Rejected int
	Errors                                              []importError // with the file's line numbers
	Truncated                                           bool
}

type importError struct {
	Line   int `json:"line"`
	Fields []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"fields"`
}

// importRequest is one request's worth of the file: its body and, for each
// line of the body, the line of the file it came from.
type importRequest struct {
	body  []byte
	lines []int // lines[i] is the file's line of body line i+1
	bytes int64 // of the file it covers
}

// runImport splits in into requests of o.batch data lines (CSV: each with
// the header row), sends o.parallel at a time and adds up their reports,
// the line numbers mapped back to the file's. progress is told of each
// finished request.
func runImport(ctx context.Context, client *http.Client, o importOptions, in io.Reader, progress func(bytes int64, s importSummary)) (importSummary, error) {
	var sum importSummary
	reqs := make(chan importRequest, o.parallel)
	var splitErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(reqs)
		send := func(r importRequest) bool {
			select {
			case reqs <- r:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if o.format == "csv" {
			splitErr = splitCSV(in, o.batch, send)
		} else {
			splitErr = splitNDJSON(in, o.batch, send)
		}
	}()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	contentType := "application/x-ndjson"
	if o.format == "csv" {
		contentType = "text/csv"
	}
	for range o.parallel {
		wg.Go(func() {
			for r := range reqs {
				rep, err := postImport(ctx, client, strings.TrimRight(o.base, "/"), o.key, contentType, r.body)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
					mu.Unlock()
					cancel()
					continue
				}
				sum.Lines += rep.Lines
				sum.Accepted += rep.Accepted
				sum.Created += rep.Created
				sum.Updated += rep.Updated
				sum.Events += rep.Events
				sum.Rejected += rep.Rejected
				sum.Truncated = sum.Truncated || rep.Truncated
				for _, e := range rep.Errors {
					if e.Line >= 1 && e.Line <= len(r.lines) {
						e.Line = r.lines[e.Line-1]
					}
					if len(sum.Errors) < 1000 {
						sum.Errors = append(sum.Errors, e)
					} else {
						sum.Truncated = true
					}
				}
				progress(r.bytes, sum)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if splitErr != nil && !errors.Is(splitErr, context.Canceled) {
		errs = append(errs, splitErr)
	}
	slices.SortStableFunc(sum.Errors, func(a, b importError) int { return a.Line - b.Line })
	return sum, errors.Join(errs...)
}

// importReply is the answer of POST /v1/recipients/import: the report, or
// a problem (a file with no good line is a 400 naming every bad line).
type importReply struct {
	Lines, Accepted, Created, Updated, Events, Rejected int
	Errors                                              []importError
	Truncated                                           bool `json:"errors_truncated"`
}

func postImport(ctx context.Context, c *http.Client, base, key, contentType string, body []byte) (importReply, error) {
	var rep importReply
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/recipients/import", bytes.NewReader(body))
	if err != nil {
		return rep, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		return rep, fmt.Errorf("POST /v1/recipients/import: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return rep, fmt.Errorf("POST /v1/recipients/import: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &rep); err != nil {
			return rep, fmt.Errorf("POST /v1/recipients/import: %w", err)
		}
		return rep, nil
	}
	var p struct {
		Message string `json:"message"`
		Fields  []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"fields"`
	}
	_ = json.Unmarshal(b, &p)
	if resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(p.Message, "no valid line") {
		// Every line of this request was bad: count them as rejected lines.
		byLine := map[int]*importError{}
		for _, f := range p.Fields {
			var n int
			var field string
			if _, err := fmt.Sscanf(f.Field, "line %d: ", &n); err == nil {
				field = strings.TrimPrefix(f.Field, fmt.Sprintf("line %d: ", n))
			}
			e := byLine[n]
			if e == nil {
				e = &importError{Line: n}
				byLine[n] = e
			}
			e.Fields = append(e.Fields, struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			}{field, f.Message})
		}
		for _, e := range byLine {
			rep.Errors = append(rep.Errors, *e)
		}
		rep.Rejected, rep.Lines = len(byLine), len(byLine)
		return rep, nil
	}
	msg := strings.TrimSpace(p.Message)
	if msg == "" {
		msg = strings.TrimSpace(string(b))
	}
	for _, f := range p.Fields {
		msg += "; " + f.Field + ": " + f.Message
	}
	return rep, fmt.Errorf("POST /v1/recipients/import: %s: %s", resp.Status, msg)
}

// splitNDJSON cuts in into requests of batch non-blank lines.
func splitNDJSON(in io.Reader, batch int, send func(importRequest) bool) error {
	br := bufio.NewReaderSize(in, 1<<20)
	var cur importRequest
	var buf bytes.Buffer
	flush := func() bool {
		if len(cur.lines) == 0 && cur.bytes == 0 {
			return true
		}
		cur.body = bytes.Clone(buf.Bytes())
		ok := send(cur)
		cur, buf = importRequest{}, bytes.Buffer{}
		return ok
	}
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		cur.bytes += int64(len(line))
		if t := bytes.TrimSpace(line); len(t) > 0 {
			buf.Write(t)
			buf.WriteByte('\n')
			cur.lines = append(cur.lines, n)
			if len(cur.lines) == batch && !flush() {
				return context.Canceled
			}
		}
		if errors.Is(err, io.EOF) {
			if !flush() {
				return context.Canceled
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// splitCSV cuts in into requests of batch records, each with the header
// row, keeping records that span lines (quoted line breaks) whole.
func splitCSV(in io.Reader, batch int, send func(importRequest) bool) error {
	cr := &countingReader{r: in}
	r := csv.NewReader(bufio.NewReaderSize(cr, 1<<20))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty CSV file: want a header row")
		}
		return fmt.Errorf("CSV header: %w", err)
	}
	var cur importRequest
	var buf bytes.Buffer
	var w *csv.Writer
	start := func() {
		cur, buf = importRequest{}, bytes.Buffer{}
		w = csv.NewWriter(&buf)
		_ = w.Write(header)
		w.Flush()
		cur.lines = append(cur.lines, 1) // the header is line 1 of the file too
	}
	records := 0
	var read int64
	flush := func() bool {
		if records == 0 {
			return true
		}
		w.Flush()
		cur.body = bytes.Clone(buf.Bytes())
		cur.bytes = cr.n - read
		read = cr.n
		records = 0
		return send(cur)
	}
	start()
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			if !flush() {
				return context.Canceled
			}
			return nil
		}
		line, _ := r.FieldPos(0)
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			// Send the broken record's line as it stood, so the server names it.
			rec, line = []string{fmt.Sprintf("malformed CSV: %v", pe.Err)}, pe.StartLine
		} else if err != nil {
			return err
		}
		before := buf.Len()
		_ = w.Write(rec)
		w.Flush()
		// A record written with quoted line breaks spans several body lines.
		for range bytes.Count(buf.Bytes()[before:], []byte("\n")) {
			cur.lines = append(cur.lines, line)
		}
		records++
		if records == batch {
			if !flush() {
				return context.Canceled
			}
			start()
		}
	}
}

func printImportSummary(w io.Writer, s importSummary, elapsed time.Duration) {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Accepted) / elapsed.Seconds()
	}
	fmt.Fprintf(w, "imported %d of %d lines in %s (%.0f recipients/s): %d created, %d updated, %d consent events appended, %d rejected\n",
		s.Accepted, s.Lines, elapsed.Round(time.Millisecond), rate, s.Created, s.Updated, s.Events, s.Rejected)
	for i, e := range s.Errors {
		if i == 50 {
			fmt.Fprintf(w, "  … and %d more bad lines\n", len(s.Errors)-50)
			break
		}
		var parts []string
		for _, f := range e.Fields {
			parts = append(parts, f.Field+": "+f.Message)
		}
		fmt.Fprintf(w, "  line %d: %s\n", e.Line, strings.Join(parts, "; "))
	}
	if s.Truncated {
		fmt.Fprintln(w, "  (more bad lines than listed)")
	}
}
