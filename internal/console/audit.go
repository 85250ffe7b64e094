package console

// The audit log: every change made in the console, who made it, when and
// from which IP address.
//
// # Keys
//
//	<prefix>console:audit   stream: one entry per change {at, user, role, action, target, ip, detail}
//
// The stream is never trimmed: the audit log is kept as long as Redis keeps
// it. Targets are ids (campaign, recipient, message, segment), never an
// address or a name.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// AuditEntry is one change made in the console.
type AuditEntry struct {
	ID     string    `json:"id"` // the stream id: orders entries
	At     time.Time `json:"at"`
	User   string    `json:"user"`
	Role   Role      `json:"role"`
	Action string    `json:"action"` // e.g. campaign.create, person.erase
	Target string    `json:"target,omitempty"`
	IP     string    `json:"ip,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

func (c *Console) auditKey() string { return c.prefix + "console:audit" }

// audit records e (At is set to now).
func (c *Console) audit(ctx context.Context, e AuditEntry) error {
	err := c.rdb.XAdd(ctx, &redis.XAddArgs{Stream: c.auditKey(), Values: []any{
		"at", c.now().UTC().Format(time.RFC3339Nano), "user", e.User, "role", string(e.Role),
		"action", e.Action, "target", e.Target, "ip", e.IP, "detail", e.Detail,
	}}).Err()
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

func auditEntryOf(m redis.XMessage) AuditEntry {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	at, _ := time.Parse(time.RFC3339Nano, str("at"))
	return AuditEntry{ID: m.ID, At: at, User: str("user"), Role: Role(str("role")), Action: str("action"),
		Target: str("target"), IP: str("ip"), Detail: str("detail")}
}

// AuditLog returns up to n entries, newest first, older than before (a
// stream id; "" for the newest), and the id to pass for the next page ("" at
// the end).
func (c *Console) AuditLog(ctx context.Context, before string, n int) ([]AuditEntry, string, error) {
	end := "+"
	if before != "" {
		end = "(" + before
	}
	msgs, err := c.rdb.XRevRangeN(ctx, c.auditKey(), end, "-", int64(n+1)).Result()
	if err != nil {
		return nil, "", fmt.Errorf("audit log: %w", err)
	}
	next := ""
	if len(msgs) > n {
		msgs = msgs[:n]
		next = msgs[n-1].ID
	}
	out := make([]AuditEntry, len(msgs))
	for i, m := range msgs {
		out[i] = auditEntryOf(m)
	}
	return out, next, nil
}

// auditPage is how many entries an export reads per round trip.
const auditPage = 1000

// ExportAudit writes the whole audit log, oldest first, to w as CSV (with a
// header) or NDJSON, a page at a time, so a long log is never held in memory.
func (c *Console) ExportAudit(ctx context.Context, w io.Writer, format string) error {
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	if format == "csv" {
		cw = csv.NewWriter(w)
		if err := cw.Write([]string{"id", "at", "user", "role", "action", "target", "ip", "detail"}); err != nil {
			return err
		}
	}
	start := "-"
	for {
		msgs, err := c.rdb.XRangeN(ctx, c.auditKey(), start, "+", auditPage).Result()
		if err != nil {
			return fmt.Errorf("export audit log: %w", err)
		}
		for _, m := range msgs {
			e := auditEntryOf(m)
			if cw != nil {
				err = cw.Write([]string{e.ID, e.At.Format(time.RFC3339Nano), e.User, string(e.Role), e.Action, e.Target, e.IP, csvSafe(e.Detail)})
			} else {
				err = enc.Encode(e)
			}
			if err != nil {
				return err
			}
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
		}
		if len(msgs) < auditPage {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (CWE-1236).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
