package api

import (
	"fmt"
	"net/http"

	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/invalid"
)

// DefaultMaxBatchBody is the default limit of a batch body: a thousand
// messages of about 1 KB each, with room to spare.
const DefaultMaxBatchBody = 4 << 20

// batchRequest is the body of POST /v1/messages/batch.
type batchRequest struct {
	Messages []messageRequest `json:"messages"`
}

// batchResult is one message's answer in a batch: its HTTP status as it
// would have been for POST /v1/messages, and either the accepted message or
// the problem.
type batchResult struct {
	Index     int    `json:"index"`
	Status    int    `json:"status"`
	ID        string `json:"id,omitempty"`
	State     string `json:"state,omitempty"` // queued or scheduled
	SendAt    string `json:"send_at,omitempty"`
	StatusURL string `json:"status_url,omitempty"`
	// Duplicate: the message's idempotency key named an earlier message,
	// which is answered; nothing new was queued.
	Duplicate bool         `json:"duplicate,omitempty"`
	Code      string       `json:"code,omitempty"`
	Message   string       `json:"message,omitempty"`
	Fields    []FieldError `json:"fields,omitempty"`
}

// batchAnswer is the answer to a validated batch: 202 when every message was
// accepted, 207 when some were not.
type batchAnswer struct {
	Accepted int           `json:"accepted"`
	Refused  int           `json:"refused"`
	Results  []batchResult `json:"results"`
}

// batch accepts up to dispatch.MaxBatch messages. A bad field anywhere is a
// 400 naming messages[i].field and nothing is accepted; otherwise each
// message is accepted or refused on its own (scope, idempotency, unknown
// recipient), answered in order.
func (m *Messages) batch(w http.ResponseWriter, r *http.Request) {
	key, ok := KeyFrom(r.Context())
	if !ok {
		WriteError(w, Errorf(http.StatusUnauthorized, "unauthorized", "missing API key: send Authorization: Bearer <key>"))
		return
	}
	if r.Header.Get("Idempotency-Key") != "" {
		WriteError(w, &Problem{Status: http.StatusBadRequest, Code: "invalid_request", Message: "invalid request",
			Fields: []FieldError{{Field: "Idempotency-Key", Message: "a batch takes no Idempotency-Key header: give each message its own idempotency_key"}}})
		return
	}
	max := m.MaxBatchBody
	if max <= 0 {
		max = DefaultMaxBatchBody
	}
	var req batchRequest
	if err := DecodeJSON(w, r, max, &req); err != nil {
		WriteError(w, err)
		return
	}
	// Every field of every message is checked before anything is accepted:
	// the shapes here, the rest by the service (not again for a message
	// whose shape is wrong, which would only repeat the problem).
	var bad invalid.List
	malformed := map[int]bool{}
	subs := make([]dispatch.Submission, len(req.Messages))
	for i, mr := range req.Messages {
		sub, err := mr.submission("")
		if ie, ok := invalid.As(err); ok {
			bad.Merge(ie.WithPrefix(fmt.Sprintf("messages[%d].", i)))
			malformed[i] = true
		}
		subs[i] = sub
	}
	if err := m.Service.ValidateBatch(&key, subs, func(i int) bool { return malformed[i] }); err != nil {
		ie, ok := invalid.As(err)
		if !ok {
			m.writeError(r, w, err)
			return
		}
		bad.Merge(ie)
	}
	if err := bad.Err(); err != nil {
		WriteError(w, err)
		return
	}
	items, err := m.Service.SubmitBatch(r.Context(), &key, subs)
	if err != nil {
		m.writeError(r, w, err)
		return
	}
	ans := batchAnswer{Results: make([]batchResult, len(items))}
	for i, it := range items {
		res := batchResult{Index: i}
		if it.Err == nil {
			ans.Accepted++
			res.Status, res.ID, res.State, res.Duplicate = http.StatusAccepted, it.ID, string(it.Status), it.Duplicate
			res.StatusURL = "/v1/messages/" + it.ID
			if !it.SendAt.IsZero() {
				res.SendAt = it.SendAt.UTC().Format("2006-01-02T15:04:05Z07:00")
			}
		} else {
			ans.Refused++
			prob := m.problemOf(r, it.Err)
			if prob == nil {
				prob = &Problem{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
			}
			res.Status, res.Code, res.Message, res.Fields = prob.Status, prob.Code, prob.Message, prob.Fields
		}
		ans.Results[i] = res
	}
	status := http.StatusAccepted
	if ans.Refused > 0 {
		status = http.StatusMultiStatus
	}
	WriteJSON(w, status, ans)
}
