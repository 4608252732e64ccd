package relay

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// One River job per organization carries its schedule: relay_org, unique by organization, in a queue
// of its own. A run takes the organization over (a new epoch fences the run before it, should River
// have handed the job on while that one still ran), loads it, and makes looks one after another, each
// when woken (a delivery) or when its clock says (a deployment in flight, a retry, the poll), for up to
// maxFollow, then snoozes, which River does not count as an attempt. Errors never reach River: a run
// that fails retries on the relay's own backoff (retry.go), so an organization's job is never
// discarded. The job exists from the first delivery naming the organization, or from the start for an
// organization given with --organization.

type orgArgs struct {
	Organization string `json:"organization"`
}

func (orgArgs) Kind() string { return "relay_org" }

// InsertOpts keeps one job per organization in any state but a finished one, so that a job completed
// or discarded by hand is replaced by the next insert.
func (orgArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: orgQueue, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
		rivertype.JobStateRunning, rivertype.JobStateScheduled,
	}}}
}

// orgQueue is the River queue of the organizations' jobs; orgWorkers bounds the organizations a relay
// process schedules at once; maxFollow bounds a run, after which the job goes back to the queue so that
// more organizations than workers take turns.
const (
	orgQueue   = "relay_org"
	orgWorkers = 100
	maxFollow  = time.Minute
)

type orgWorker struct {
	river.WorkerDefaults[orgArgs]
	r *Relay
}

// Timeout bounds one run; the run ends its looks well before it (see Work).
func (w *orgWorker) Timeout(*river.Job[orgArgs]) time.Duration { return w.r.stepTimeout }

func (w *orgWorker) Work(ctx context.Context, job *river.Job[orgArgs]) error {
	r := w.r
	name := job.Args.Organization
	log := r.log.With("organization", name)
	woken, forget := r.wakeups.register(name)
	defer forget()
	until := time.Now().Add(min(r.stepTimeout/4, maxFollow))
	epoch, baselined, err := r.store.claimOrg(ctx, r.db, name)
	if err != nil {
		return w.again(ctx, log, "taking the organization's schedule over", err)
	}
	o, err := r.store.loadOrg(ctx, r.db, name, epoch, baselined)
	if err != nil {
		return w.again(ctx, log, "loading the organization", err)
	}
	rn := r.newRunner(o)
	failures := troubles{}
	// The gauge is this run's: the replica that runs the organization next reports it.
	defer r.metrics.consecutiveFailures.DeleteLabelValues(name)
	for {
		wait, err := rn.look(ctx)
		switch {
		case ctx.Err() != nil:
			// Shutting down: the next relay (or replica) goes on at once.
			return river.JobSnooze(0)
		case errors.Is(err, errFenced):
			log.Warn("another run took this organization's schedule over; this one stops")
			return river.JobSnooze(r.cfg.PollInterval)
		case err != nil:
			failures.fail(time.Now(), err.Error())
			wait = time.Until(failures.retryAt)
			log.Error("a look failed; retried", "error", err.Error(), "failures", failures.failures,
				"retry_in", wait.Round(time.Millisecond).String())
			r.metrics.lookFailed()
		default:
			failures.clear()
		}
		r.metrics.consecutiveFailures.WithLabelValues(name).Set(float64(max(failures.failures, rn.mostFailures())))
		// The job stays with the organization until the end of the run, so that a delivery wakes its
		// next look at once; then it goes back to the queue, ready to run again (here or on another
		// replica) as soon as a worker fetches it.
		if left := time.Until(until); left <= 0 {
			return river.JobSnooze(0)
		} else if wait > left {
			wait = left
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return river.JobSnooze(0)
		case <-r.stopping:
			timer.Stop()
			return river.JobSnooze(0)
		case <-woken:
			timer.Stop()
			// Deliveries come in bursts (one per edge of each stack a layer of deployments updated):
			// a moment's wait takes many of them into one look.
			select {
			case <-time.After(wakeSettle):
			case <-ctx.Done():
			}
			// The next look reads every hint recorded before it: the wakes of the burst (a delivery
			// wakes here and, on PostgreSQL, once more through the database) are all answered by it.
			select {
			case <-woken:
			default:
			}
		case <-timer.C:
		}
	}
}

// wakeSettle is how long a woken look waits for the rest of a burst of deliveries.
const wakeSettle = 20 * time.Millisecond

// again ends a run that could not start, to be run again after the poll interval.
func (w *orgWorker) again(ctx context.Context, log interface{ Error(string, ...any) }, what string, err error) error {
	if ctx.Err() != nil {
		return river.JobSnooze(0)
	}
	log.Error(what+" failed; tried again", "error", err.Error())
	return river.JobSnooze(min(w.r.cfg.PollInterval, 5*time.Second))
}

// scheduleOrg makes sure the organization has its job (one per organization: a second insert is a
// no-op), and wakes it.
func (r *Relay) scheduleOrg(ctx context.Context, name string) error {
	r.orgsMu.Lock()
	known := r.orgs[name]
	r.orgsMu.Unlock()
	if !known {
		if _, err := r.jobs.Insert(ctx, orgArgs{Organization: name}, nil); err != nil {
			return err
		}
		r.orgsMu.Lock()
		r.orgs[name] = true
		r.orgsMu.Unlock()
	}
	r.wake(ctx, name)
	return nil
}

// wakeups lets an organization's job, waiting between two looks, start the next look at once when a
// delivery arrived, in this process or, on PostgreSQL, in another replica (notify.go).
type wakeups struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

// register returns the channel that wakes the job of organization name, and the func that forgets it.
func (w *wakeups) register(name string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == nil {
		w.waiting = map[string]chan struct{}{}
	}
	ch := make(chan struct{}, 1)
	w.waiting[name] = ch
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.waiting[name] == ch {
			delete(w.waiting, name)
		}
	}
}

// wake wakes the job of organization name if it waits in this process; wakes while it looks collapse
// into one look after it.
func (w *wakeups) wake(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.waiting[name] <- struct{}{}:
	default:
	}
}

// wakeAll wakes every job waiting in this process.
func (w *wakeups) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.waiting {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// mostFailures is the most consecutive failures of any read the run's schedule waits to retry: a
// stack's, or the stack list's.
func (rn *runner) mostFailures() int {
	most := rn.pollTrouble.failures
	for _, s := range rn.o.stacks {
		most = max(most, s.trouble.failures)
	}
	return most
}
