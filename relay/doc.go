// Package relay is the cascade relay: a small service that keeps every stack below an update deployed
// after it, once, after all its ancestors, and only when what it reads changed. A pulumi_deployments
// webhook cannot do that: it starts its target on every update of its source, so a diamond deploys its
// join once per path, a join can start before its other parent finished, and every stack below a
// change redeploys even when nothing it reads changed. The command is cmd/pulumi-auto-deploy-relay;
// docs/relay.md tells how to run it.
//
// # Level-triggered
//
// Pulumi Cloud's stack versions are the truth; webhook deliveries are only hints. Deliveries may come
// late, twice, out of order or never, and people update stacks by hand, so the relay does not follow
// events down a tree. It keeps, per organization, what it knows: every stack's newest version (and
// whether someone is updating it), the relay edges between them as the webhooks say (package edge),
// and for each edge the parent's version its child last deployed against. A stack is due when a parent
// has a version newer than that, and the parent's outputs changed between the two (secrets compared
// by value), or the edge always deploys (alwaysDeploy), or the edge is new, or the stack's last
// deployment failed. One schedule per organization then starts a due stack only when nothing above it
// is due, deploying (whoever started that), unsure or failed, so it deploys once, after all its
// ancestors, and that one deployment covers every change above it that ended before it started.
//
// # Layers
//
// schedule.go holds the decisions as pure functions of that knowledge (Schedule: what is ready, what
// waits and why; Judge: deploy or skip a ready stack), and cascade.go how a cascade's record follows
// them (advanceRow); both are tested without a database or HTTP. Around them, one look of an
// organization's schedule (look.go) takes in the deliveries' hints, looks at Pulumi Cloud where it is
// time to (poll.go: the stack list every --poll, from which it finds updates no delivery announced, and
// the stacks someone else is updating; deploy.go: the relay's own deployments in flight, read from one
// page of the organization's deployment list), judges and starts what is ready (deploy.go), the most
// work below first, within --max-deployments, and records it. model.go is the organization in memory,
// store*.go its tables, graph.go the edges read from webhooks, outputs.go the outputs comparison,
// retry.go the relay's own retry policy (a read that fails belongs to its stack, which waits on a
// capped, jittered backoff, reset by a success), http.go the routes.
//
// # Durability
//
// State lives in one database beside River's job tables: a SQLite file (modernc.org/sqlite, no cgo)
// that one process owns, or a PostgreSQL database (pgx, through River's database/sql driver) that any
// number of replicas share. One River job per organization carries its schedule (jobs.go); a run of it
// takes the organization over with a new epoch, which fences every write of a run that River handed on
// while it still ran. A delivery only records a hint (relay_hint) and wakes the job. Every change is
// committed before the request that depends on it. Starting a deployment is the one request that can be
// neither repeated nor undone, so the relay records its intent, with the stack's newest deployment
// number, before it asks; after a crash or an ambiguous answer it looks for the deployment numbered
// next before asking again.
//
// A relay killed with SIGKILL and started on the same SQLite file goes on where it stopped: it owns the
// file, so the jobs left running are its own, made available again at start. On PostgreSQL, River's
// locking gives each organization's job to one replica at a time; the replicas count heartbeats, and
// hand the jobs of one silent for RescueAfter on to whichever fetches them (replicas.go); a delivery's
// wake reaches every replica through LISTEN/NOTIFY (notify.go). A River job prunes what Retain no
// longer keeps (prune.go).
//
// The SQL runs on SQLite and PostgreSQL alike; only the schema's types (numbered migrations recorded
// in relay_migration; a database newer than the binary is refused), River's driver and the recovery of
// jobs at start sit in the dialect (store.go).
package relay
