package dispatch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/queue"
)

// refusingQueue stands for a queue that cannot take the task (Redis gone
// between the record and the enqueue).
type refusingQueue struct{}

func (refusingQueue) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	return nil, errors.New("connection refused")
}

// TestSubmitEnqueueFailureLeavesNothing: when enqueueing fails, the record
// is removed and the idempotency key released, so the producer's retry with
// the same key is accepted as new.
func TestSubmitEnqueueFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noWorker: true})
	b.putCustomer(t, customer{id: "c-1", email: "q@example.com"})
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	settings := config.Dispatch{SendHorizon: time.Hour, SendAtTolerance: time.Minute, IdempotencyTTL: time.Hour, SendTimeout: time.Second}
	broken, err := dispatch.NewService(dispatch.ServiceOptions{Store: b.store, Catalog: cat, Client: refusingQueue{},
		Queues: queue.Queues{Suffix: "-never"}, Settings: settings, MaxRetry: 1, RecordTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	key := &apikey.Key{Name: "billing", Scopes: []string{"send:invoice"}}
	sub := dispatch.Submission{Type: "invoice", RecipientID: "c-1", IdempotencyKey: "k-1", Key: key,
		Data: map[string]map[string]any{"invoice": invoiceData()["invoice"].(map[string]any)}}
	if _, err := broken.Submit(t.Context(), sub); err == nil {
		t.Fatal("Submit succeeded although the queue refused the task")
	}
	if recs, err := b.store.RecipientMessages(t.Context(), "c-1"); err != nil || len(recs) != 0 {
		t.Fatalf("records left behind: %+v %v", recs, err)
	}
	acc, err := b.svc.Submit(t.Context(), sub)
	if err != nil || acc.Duplicate {
		t.Fatalf("retry with the same key: %+v %v, want a new message", acc, err)
	}
	if info, err := b.inspect.GetTaskInfo(b.queues.Name("transactional"), acc.ID); err != nil || info.State != asynq.TaskStatePending {
		t.Errorf("task of the retry: %+v %v, want pending", info, err)
	}
}
