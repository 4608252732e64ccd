// Package relay is the cascade relay: a small service that receives Pulumi Cloud webhook
// deliveries of successful stack updates and turns them into cascades in which every stack
// below the updated one deploys at most once, only after all its parents finished, and only
// when one of its parents' outputs changed. A pulumi_deployments webhook cannot do that: it
// starts its target on every update of its source, so a diamond deploys its join once per path,
// a join can start before its other parent finished, and every stack below a change redeploys
// even when nothing it reads changed. The command is cmd/pulumi-auto-deploy-relay; docs/relay.md
// tells how to run it.
//
// # Layers
//
// decide.go holds every decision as pure functions of the graph, the stacks' states, their
// versions and an outputs comparison: PlanCascade (what is ready, what a failure blocks, whether
// the cascade is done), Judge (deploy or skip a ready stack), Merge and AfterDeployment (a root
// update arriving mid-cascade), FindCycle. They are tested without a database or HTTP.
//
// Around them: graph.go learns the graph from Cloud (a cascade rooted at r lists the webhooks of
// every stack reachable from r, breadth first, and follows the relay edges, which the provider
// makes under a fixed contract: EdgeName, EdgePayloadURL); outputs.go compares a parent's
// outputs between two versions, secrets by their decrypted values; cascade.go and deploy.go run
// one step of a cascade; http.go serves the routes; store*.go keep the state in SQL.
//
// # Durability
//
// State lives in one database beside River's job tables, so a cascade and its job are recorded in
// one transaction: a SQLite file (modernc.org/sqlite, no cgo) that one process owns, or a
// PostgreSQL database (pgx, through River's database/sql driver so that the relay's SQL and
// River's share a *sql.Tx) that any number of replicas share. Two job kinds carry the work
// (jobs.go): one per delivered update, unique by stack and version, which makes the N deliveries
// of one update (one per edge leaving the stack) and any redelivery a no-op; and one per cascade,
// whose run looks at the cascade again each poll interval, or as soon as one of its deployments
// ends, for up to a minute (a quarter of its timeout, when that is less), then snoozes, until the
// cascade is done. The update a
// relay's own deployment causes arrives as it ends, while the cascade still records it running:
// it is not a job but a version held on the deploying stack's row and a wake for the cascade;
// recording the deployment's end drops it when the stack's version after the end covers it, and
// queues it as an update otherwise (someone else updated the stack meanwhile). Most deliveries
// are of that kind, and this keeps them off the job queue. Every change is committed before the
// request that depends on it. Starting a deployment is the one request that can be neither
// repeated nor undone, so the relay records its intent, with the stack's newest deployment
// version, before it asks; after a crash or an ambiguous answer it looks for the deployment
// numbered next before asking again.
//
// A relay killed with SIGKILL and started on the same SQLite file finishes its cascades: it owns
// the file, so the jobs left running are its own, made available again at start. On PostgreSQL
// nothing runs at start; River's locking gives each job to one replica at a time, and the elected
// leader's rescuer hands the job of a replica that died to another once it has run RescueAfter.
// Steps are bounded by three quarters of RescueAfter so that a live replica's step is not taken
// for a dead one's; should one still overlap a rescued run, the intent check (no deployment of the
// stack in flight in any cascade, this one included) keeps the second from asking again. What a
// transaction checks before it writes must still hold when replicas commit concurrently, so on
// PostgreSQL inTx runs SERIALIZABLE and retries the transactions PostgreSQL aborts.
//
// The SQL runs on SQLite and PostgreSQL alike; only the schema (numbered migrations recorded in
// relay_migration; a database newer than the binary is refused), River's driver and the recovery
// of jobs at start sit in the dialect (store.go).
package relay
