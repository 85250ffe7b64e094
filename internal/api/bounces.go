package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/bounce"
)

// Bounces serves /v1/bounces: installations whose MTA forwards bounces by
// webhook post them here (scope bounces), parsed or raw, and operators read
// a stored report (scope recipients: the raw report holds personal data).
// A report changes something only when its VERP address verifies, as over
// SMTP.
type Bounces struct {
	Processor *bounce.Processor
	Log       *slog.Logger
}

// Routes registers the bounce routes on mux.
func (b *Bounces) Routes(mux Mux) {
	mux.HandleFunc("POST /v1/bounces", b.post)
	mux.HandleFunc("GET /v1/bounces/{id}", b.get)
}

// bounceView is a stored report as the API shows it.
type bounceView struct {
	ID           string      `json:"id"`
	ReceivedAt   time.Time   `json:"received_at"`
	Source       string      `json:"source"`
	Kind         bounce.Kind `json:"kind"`
	Format       string      `json:"format"`
	Status       string      `json:"status,omitempty"`
	Action       string      `json:"action,omitempty"`
	Diagnostic   string      `json:"diagnostic,omitempty"`
	FeedbackType string      `json:"feedback_type,omitempty"`
	MessageID    string      `json:"message_id,omitempty"`
	Matched      bool        `json:"matched"` // a valid VERP address named the message
	Duplicate    bool        `json:"duplicate,omitempty"`
	Raw          string      `json:"raw,omitempty"`
}

func bounceViewOf(s bounce.Stored) bounceView {
	return bounceView{ID: s.ID, ReceivedAt: s.ReceivedAt, Source: s.Source, Kind: s.Kind, Format: s.Format, Status: s.Status,
		Action: s.Action, Diagnostic: s.Diagnostic, FeedbackType: s.FeedbackType, MessageID: s.MessageID,
		Matched: s.MessageID != "", Duplicate: s.Duplicate, Raw: string(s.Raw)}
}

func (b *Bounces) post(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeBounces); err != nil {
		WriteError(w, err)
		return
	}
	var in bounce.Submission
	// A raw report may be as big as HEROLD_BOUNCE_MAX_SIZE, plus JSON escaping.
	if err := DecodeJSON(w, r, 2*b.Processor.MaxSize()+4096, &in); err != nil {
		WriteError(w, err)
		return
	}
	st, err := b.Processor.Submit(r.Context(), in)
	if err != nil {
		b.writeError(r, w, err)
		return
	}
	st.Raw = nil
	status := http.StatusCreated
	if st.Duplicate {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/v1/bounces/"+st.ID)
	WriteJSON(w, status, bounceViewOf(st))
}

func (b *Bounces) get(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeRecipients); err != nil {
		WriteError(w, err)
		return
	}
	st, err := b.Processor.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		b.writeError(r, w, err)
		return
	}
	WriteJSON(w, http.StatusOK, bounceViewOf(st))
}

// writeError maps the bounce package's errors to Problems. Anything else
// (Redis, the effects) is a 503, so the MTA tries again.
func (b *Bounces) writeError(r *http.Request, w http.ResponseWriter, err error) {
	writeProblem(w, r, b.Log, "bounces", err, func(err error) *Problem {
		if errors.Is(err, bounce.ErrNotFound) {
			return Errorf(http.StatusNotFound, "not_found", "no such bounce report (or it expired)")
		}
		return nil
	}, Errorf(http.StatusServiceUnavailable, "unavailable", "report not processed, try again later"))
}
