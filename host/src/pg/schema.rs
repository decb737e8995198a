//! The tables spellhost keeps in PostgreSQL, one migration per version.
//! `spellhost_schema` records the version; a process applies what is
//! missing inside one transaction under an advisory lock, so two processes
//! starting at once do not race, and a database at version N gets the
//! steps after N.

/// The schema, one step per version. Append; never edit a step.
const MIGRATIONS: &[&str] = &[
    // 1: state.
    "CREATE TABLE spellhost_state (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BYTEA NOT NULL,
        PRIMARY KEY (namespace, key)
    )",
    // 2: the run queue and its results.
    "CREATE TABLE spellhost_queue (
        seq BIGSERIAL PRIMARY KEY,
        run_id TEXT NOT NULL,
        job TEXT NOT NULL,
        worker TEXT,
        lease_until TIMESTAMPTZ,
        takes INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE spellhost_results (
        run_id TEXT PRIMARY KEY,
        result TEXT NOT NULL,
        finished_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX spellhost_results_age ON spellhost_results (finished_at)",
    // 3: the events outbox. Readers follow (tx, id): every transaction
    // older than a snapshot's xmin has committed, so a cursor on it never
    // passes an event that commits later.
    "CREATE TABLE spellhost_events (
        id BIGSERIAL PRIMARY KEY,
        tx XID8 NOT NULL DEFAULT pg_current_xact_id(),
        stream TEXT NOT NULL,
        origin TEXT NOT NULL,
        event TEXT NOT NULL
    );
    CREATE INDEX spellhost_events_follow ON spellhost_events (stream, tx, id)",
    // 4: the audit trail.
    "CREATE TABLE spellhost_audit (
        id BIGSERIAL PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL DEFAULT now(),
        record JSONB NOT NULL
    )",
    // 5: what each state namespace holds, for quotas; its row is also the
    // lock every writer of the namespace takes.
    "CREATE TABLE spellhost_state_usage (
        namespace TEXT PRIMARY KEY,
        bytes BIGINT NOT NULL,
        keys BIGINT NOT NULL
    );
    INSERT INTO spellhost_state_usage (namespace, bytes, keys)
        SELECT namespace, SUM(octet_length(key) + octet_length(value)), COUNT(*)
        FROM spellhost_state GROUP BY namespace",
];

/// Any number: the advisory lock migrations hold.
const MIGRATION_LOCK: i64 = 0x5350_454c_4c53_4854;

/// Brings the schema to the newest version, in one transaction under an
/// advisory lock (a second process waits, then finds it current).
pub async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    transaction
        .batch_execute("CREATE TABLE IF NOT EXISTS spellhost_schema (version INTEGER NOT NULL)")
        .await?;
    let version: i32 = transaction
        .query_opt("SELECT version FROM spellhost_schema", &[])
        .await?
        .map_or(0, |row| row.get(0));
    let version = usize::try_from(version).unwrap_or(0);
    for step in MIGRATIONS.iter().skip(version) {
        transaction.batch_execute(step).await?;
    }
    if version < MIGRATIONS.len() {
        let newest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
        transaction
            .execute("DELETE FROM spellhost_schema", &[])
            .await?;
        transaction
            .execute(
                "INSERT INTO spellhost_schema (version) VALUES ($1)",
                &[&newest],
            )
            .await?;
    }
    transaction.commit().await
}
