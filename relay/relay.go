package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// Version is the relay's release, stamped at build time with
// -ldflags "-X github.com/autodeploy-dev/pulumi-auto-deploy/relay.Version=1.2.3" (make build, make dist).
var Version = "0.0.1-dev"

// Config is everything a relay needs; New checks it.
type Config struct {
	// Addr is the address to listen on, such as ":8080" or "127.0.0.1:0" (any free port: the
	// "listening" log line and Addr tell which).
	Addr string
	// AdminAddr, when set, is where GET /v1/cascades and GET /metrics are served, and then only
	// there: Addr serves POST /v1/hooks and GET /healthz alone. When unset, Addr serves them too
	// if it is a loopback address, and they are served nowhere otherwise (server.go).
	AdminAddr string
	// Organizations, when set, are the organizations the relay schedules: it adopts each one's
	// current versions at start and polls it from then on, and a delivery naming another is
	// answered 403 and starts nothing. Empty accepts any, each from its first delivery.
	Organizations []string
	// HTTP bounds the clients of both addresses; zero fields take the defaults (server.go).
	HTTP HTTPLimits
	// DB holds the relay's state and its job queue: the path of a SQLite file (created if
	// missing), which one relay process owns at a time, or a postgres:// URL, which any number
	// of relay replicas share. Either is migrated to the relay's current schema at start.
	DB string
	// APIURL is the Pulumi Cloud API, https://api.pulumi.com by default.
	APIURL string
	// Token is the Pulumi Cloud access token the relay acts with.
	Token string
	// Secret is the HMAC key the relay's webhooks sign deliveries with. PreviousSecret, when
	// set, is accepted too, while the webhooks move from it to Secret.
	Secret         string
	PreviousSecret string
	// Logger receives the relay's structured logs; nil means JSON on stderr.
	Logger *slog.Logger
	// Cloud replaces the Cloud client built from APIURL and Token (tests).
	Cloud Cloud
	// PollInterval is how often the relay reads each organization's stack list to find the updates no
	// delivery announced; 30s by default.
	PollInterval time.Duration
	// MaxDeployments bounds the relay's deployments queued or running in Pulumi Cloud at once, per
	// organization; 0 for no bound.
	MaxDeployments int
	// DeploymentTimeout is how long a deployment of the relay may run before the relay cancels it
	// and counts it failed; 2h by default.
	DeploymentTimeout time.Duration
	// Settle is how long a stack due because of someone else's change waits for more changes above it
	// (two roots updated together), so that one deployment covers them all; 0 starts it at once. The
	// command's default is 1s.
	Settle time.Duration
	// RescueAfter (PostgreSQL only) is how long a replica may go without a heartbeat (two a
	// second) before the others take it for dead and hand its organizations' jobs on, to be run
	// by whichever replica fetches them first (replicas.go). 5s by default.
	RescueAfter time.Duration
	// Retain is how long finished cascades and ended deployments are kept (prune.go); 30 days
	// (DefaultRetain) by default.
	Retain time.Duration
	// ShutdownGrace is how long a stop waits for the steps in progress before interrupting
	// them; 10s by default.
	ShutdownGrace time.Duration
}

// Relay receives update events, and runs the cascades they start.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	cloud   Cloud
	secrets [][]byte

	db      *sql.DB
	dialect dialect
	store   *store
	jobs    *river.Client[*sql.Tx]
	// recent spares the repeated deliveries of one update a write each (recent.go).
	recent recentEvents
	// wakeups starts an organization's next look when a delivery arrived (jobs.go).
	wakeups wakeups
	// orgs are the organizations whose job this process made sure of.
	orgsMu sync.Mutex
	orgs   map[string]bool
	// stopping is closed when the relay begins to stop: a cascade's job waiting between two looks
	// hands the cascade back to the queue instead of waiting for the next look.
	stopping     chan struct{}
	stoppingOnce sync.Once

	metrics *metrics
	// stepTimeout bounds one step of a cascade.
	stepTimeout time.Duration

	listening chan struct{}
	addr      string
	adminAddr string
	closeOnce sync.Once
}

// New checks cfg and returns a relay that Run starts.
func New(cfg Config) (*Relay, error) {
	if cfg.Addr == "" {
		cfg.Addr = ":8080"
	}
	if cfg.DB == "" {
		cfg.DB = "relay.db"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.DeploymentTimeout <= 0 {
		cfg.DeploymentTimeout = 2 * time.Hour
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = 5 * time.Second
	}
	if cfg.Retain <= 0 {
		cfg.Retain = DefaultRetain
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if strings.TrimSpace(cfg.Secret) == "" {
		return nil, errors.New("the webhook secret is empty: every delivery would be refused")
	}
	if err := checkOrganizations(cfg.Organizations); err != nil {
		return nil, err
	}
	cfg.Organizations = slices.Compact(slices.Sorted(slices.Values(cfg.Organizations)))
	r := &Relay{cfg: cfg, log: cfg.Logger, cloud: cfg.Cloud, listening: make(chan struct{}), stopping: make(chan struct{}),
		orgs: map[string]bool{}}
	r.metrics = newMetrics(r)
	r.secrets = append(r.secrets, []byte(cfg.Secret))
	if cfg.PreviousSecret != "" {
		r.secrets = append(r.secrets, []byte(cfg.PreviousSecret))
	}
	if r.cloud == nil {
		// The relay retries on its own schedule (retry.go): a request gives up after a few tries, so
		// that one stack's trouble never holds a look for minutes.
		client, err := cloud.New(nil, cfg.APIURL, cfg.Token, cloud.WithUserAgent("pulumi-auto-deploy-relay"),
			cloud.WithRetry(cloud.RetryPolicy{MaxAttempts: 3, MaxDelay: 2 * time.Second, MaxElapsed: 10 * time.Second}),
			cloud.WithRequestTimeout(30*time.Second))
		if err != nil {
			return nil, err
		}
		r.cloud = NewCloud(client)
	}
	if c, ok := r.cloud.(limiter); ok {
		r.metrics.watchLimits(c)
	}
	return r, nil
}

// Run opens the database, starts the job queue and serves HTTP until ctx ends, then shuts
// down gracefully: no new deliveries, the steps in progress finish (or are interrupted after
// a grace period and resume at the next start).
func (r *Relay) Run(ctx context.Context) error {
	if err := r.open(ctx); err != nil {
		return err
	}
	defer r.close()
	// The replicas' heartbeats and wakes (PostgreSQL) run until the queue has stopped below. The
	// first heartbeat is counted before the queue fetches a job, so that no replica takes this one,
	// new, for dead.
	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var backgroundDone sync.WaitGroup
	defer func() {
		stopBackground()
		backgroundDone.Wait()
	}()
	if r.dialect.shared() {
		if err := r.store.beat(ctx, r.db, r.jobs.ID()); err != nil {
			return fmt.Errorf("recording this replica's first heartbeat: %w", err)
		}
		backgroundDone.Go(func() { r.watchReplicas(background) })
		backgroundDone.Go(func() { r.listenForWakes(background) })
	}
	// The queue outlives ctx so that it can be stopped in order below.
	if err := r.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	if err := r.scheduleKnownOrgs(ctx); err != nil {
		r.stopJobs()
		return err
	}
	front, err := r.listen()
	if err != nil {
		r.stopJobs()
		return err
	}
	// replica is River's name for this process, as river_job.attempted_by records it.
	r.log.Info("listening", "addr", r.addr, "adminAddr", r.adminAddr, "organizations", r.cfg.Organizations,
		"db", displayDB(r.cfg.DB), "replica", r.jobs.ID(), "retain", r.cfg.Retain.String(), "version", Version)
	// After the line, so that whoever waited for Addr finds it in the log.
	close(r.listening)
	serveErr := front.wait(ctx)
	r.log.Info("shutting down", "transaction_retries", conflictRetries.Load())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownGrace)
	defer cancel()
	front.shutdown(shutdownCtx)
	r.stopJobs()
	return serveErr
}

// open prepares the database and the job queue, without starting either.
func (r *Relay) open(ctx context.Context) error {
	db, d, err := openDB(ctx, r.cfg.DB)
	if err != nil {
		return err
	}
	// River's informational lines would drown the relay's own.
	quiet := slog.New(&levelFloor{Handler: r.log.Handler(), floor: slog.LevelWarn}).With("component", "river")
	if err := migrate(ctx, db, d, quiet); err != nil {
		_ = db.Close()
		return err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &orgWorker{r: r})
	river.AddWorker(workers, &pruneWorker{r: r})
	cfg := &river.Config{
		Logger:       quiet,
		Queues:       map[string]river.QueueConfig{orgQueue: {MaxWorkers: orgWorkers}, maintenanceQueue: {MaxWorkers: 1}},
		Workers:      workers,
		PeriodicJobs: []*river.PeriodicJob{prunePeriodically(r.cfg.Retain)},
		// River's own finished jobs (the prunings) go with what they pruned.
		CompletedJobRetentionPeriod: min(r.cfg.Retain, 24*time.Hour),
		// Neither SQLite nor River's database/sql driver has notifications: the queue looks for
		// due jobs this often.
		FetchPollInterval: time.Second,
		FetchCooldown:     100 * time.Millisecond,
		MaxAttempts:       10,
	}
	// A run of an organization's job makes looks for up to a quarter of this (at most maxFollow),
	// then goes back to the queue; a first baseline of a large organization is the longest look.
	r.stepTimeout = 10 * time.Minute
	if d.shared() {
		// A replica that dies mid-run leaves its job running; the other replicas hand it on once
		// its heartbeats stop (replicas.go). River's rescuer only backs that up, for a run that
		// outlived its own timeout.
		cfg.JobTimeout, cfg.RescueStuckJobsAfter = r.stepTimeout, r.stepTimeout+time.Minute
		// A job handed on is fetched within this.
		cfg.FetchPollInterval = heartbeatEvery
	} else if _, err := db.ExecContext(ctx, d.recoverOrphans); err != nil {
		// A relay killed mid-step left its job running; this process owns the file, so nothing
		// else is running it.
		_ = db.Close()
		return fmt.Errorf("taking back the jobs of a relay that stopped: %w", err)
	}
	jobs, err := river.NewClient(d.river(db), cfg)
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("creating the job queue: %w", err)
	}
	r.db, r.dialect, r.store, r.jobs = db, d, &store{now: time.Now}, jobs
	return nil
}

// scheduleKnownOrgs makes sure every organization the relay schedules has its job: those given with
// --organization and those it scheduled before.
func (r *Relay) scheduleKnownOrgs(ctx context.Context) error {
	known, err := r.store.organizations(ctx, r.db)
	if err != nil {
		return fmt.Errorf("reading the organizations the relay schedules: %w", err)
	}
	for _, name := range append(known, r.cfg.Organizations...) {
		if err := r.scheduleOrg(ctx, name); err != nil {
			return fmt.Errorf("scheduling organization %s: %w", name, err)
		}
	}
	return nil
}

// stopJobs lets the running steps finish, then interrupts what is left; an interrupted step
// runs again at the next start.
func (r *Relay) stopJobs() {
	r.stoppingOnce.Do(func() { close(r.stopping) })
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownGrace)
	defer cancel()
	if err := r.jobs.Stop(ctx); err != nil {
		hard, cancelHard := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelHard()
		_ = r.jobs.StopAndCancel(hard)
	}
}

func (r *Relay) close() {
	r.closeOnce.Do(func() {
		if r.db != nil {
			_ = r.db.Close()
		}
	})
}

// levelFloor passes on only records at or above floor.
type levelFloor struct {
	slog.Handler
	floor slog.Level
}

func (h *levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.floor && h.Handler.Enabled(ctx, l)
}

func (h *levelFloor) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelFloor{Handler: h.Handler.WithAttrs(attrs), floor: h.floor}
}

func (h *levelFloor) WithGroup(name string) slog.Handler {
	return &levelFloor{Handler: h.Handler.WithGroup(name), floor: h.floor}
}
