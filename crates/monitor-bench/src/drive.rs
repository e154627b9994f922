//! Drives a [`Target`]: posts the workload with concurrent senders and measures
//! throughput, CPU, memory and freshness; then times the four queries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;

use crate::procstat;
use crate::stats::Percentiles;
use crate::target::{Answer, Posted, QueryId, Target};

/// Most overload retries of one batch before the run is declared failed.
const MAX_RETRIES: u32 = 100;
/// How long the stored counts may take to match what was acknowledged.
const QUERYABLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between freshness polls.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What one ingest run measured.
#[derive(Debug, Clone)]
pub(crate) struct IngestRun {
    /// Events per request.
    pub(crate) batch: usize,
    /// Concurrent senders.
    pub(crate) senders: usize,
    /// Events posted.
    pub(crate) events: usize,
    /// From the first request to the last acknowledgement.
    pub(crate) elapsed: Duration,
    /// Overload answers that were retried.
    pub(crate) retries: u64,
    /// From the last acknowledgement until the per-type counts matched.
    pub(crate) queryable_after: Option<Duration>,
    /// Server CPU seconds from the first request until the data was queryable.
    pub(crate) cpu_secs: Option<f64>,
    /// Server peak RSS (VmHWM) after the run, MiB.
    pub(crate) peak_rss_mib: Option<f64>,
    /// Per-type counts read back.
    pub(crate) counts: [u64; 4],
    /// Whether they matched what was sent.
    pub(crate) verified: bool,
    /// Load average when the run ended.
    pub(crate) load: String,
}

impl IngestRun {
    /// Acknowledged events per second.
    pub(crate) fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Posts `batches` with `senders` concurrent senders, then polls until the stored
/// per-type counts equal `expected`. `pid` is the server's, for CPU and memory.
pub(crate) async fn ingest(
    target: &Target,
    batches: Vec<(Bytes, usize)>,
    senders: usize,
    expected: [u64; 4],
    pid: Option<u32>,
) -> Result<IngestRun> {
    let batch = batches.first().map_or(0, |b| b.1);
    let events: usize = batches.iter().map(|b| b.1).sum();
    let batches = Arc::new(batches);
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let cpu_before = pid.map(procstat::cpu_seconds).transpose()?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(senders);
    for _ in 0..senders.max(1) {
        let (target, batches, next, retries) =
            (target.clone(), batches.clone(), next.clone(), retries.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, n)) = batches.get(i) else { return Ok::<(), anyhow::Error>(()) };
                let mut attempt = 0;
                loop {
                    match target.post_batch(body.clone(), *n).await.with_context(|| format!("batch #{i}"))? {
                        Posted::Accepted => break,
                        Posted::RetryAfter(after) => {
                            attempt += 1;
                            retries.fetch_add(1, Ordering::Relaxed);
                            if attempt > MAX_RETRIES {
                                bail!("batch #{i}: still overloaded after {MAX_RETRIES} retries");
                            }
                            tokio::time::sleep(after.min(Duration::from_secs(5))).await;
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.context("sender panicked")??;
    }
    let elapsed = started.elapsed();
    let acked = Instant::now();
    let mut counts = [0; 4];
    let mut queryable_after = None;
    while acked.elapsed() < QUERYABLE_TIMEOUT {
        // A transient error (e.g. a peer still opening its index) is polled through.
        if let Ok(c) = target.type_counts().await {
            counts = c;
            if counts == expected {
                queryable_after = Some(acked.elapsed());
                break;
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let cpu_secs = match (pid, cpu_before) {
        (Some(pid), Some(before)) => Some(procstat::cpu_seconds(pid)? - before),
        _ => None,
    };
    let peak_rss_mib = pid.map(procstat::peak_rss_mib).transpose()?;
    Ok(IngestRun {
        batch,
        senders,
        events,
        elapsed,
        retries: retries.load(Ordering::Relaxed),
        queryable_after,
        cpu_secs,
        peak_rss_mib,
        counts,
        verified: queryable_after.is_some(),
        load: procstat::load_average(),
    })
}

/// Timings of one query.
#[derive(Debug, Clone)]
pub(crate) struct QueryTiming {
    /// Which query.
    pub(crate) query: QueryId,
    /// Client-side latency, request sent to last byte received.
    pub(crate) latency: Percentiles,
    /// The last answer, decoded.
    pub(crate) answer: Answer,
}

/// Fewest timed repetitions kept when a query's time budget runs out.
const MIN_REPS: usize = 5;

/// Runs each query `warmup` times untimed, then `reps` times timed — fewer (but at
/// least [`MIN_REPS`]) once its timed runs have used up `budget`, and with less warm-up
/// when one run takes over a tenth of it (a peer that needs seconds per query would
/// otherwise take an hour).
pub(crate) async fn time_queries(
    target: &Target,
    warmup: usize,
    reps: usize,
    cache: bool,
    budget: Duration,
) -> Result<Vec<QueryTiming>> {
    let mut out = Vec::new();
    for query in QueryId::ALL {
        let mut samples = Vec::with_capacity(reps);
        let mut last = Bytes::new();
        let mut warm_left = warmup;
        let mut timed_left = reps.max(1);
        while timed_left > 0 {
            if samples.len() >= MIN_REPS && samples.iter().sum::<Duration>() > budget {
                break;
            }
            let started = Instant::now();
            let resp = target
                .query_request(query, cache)
                .send()
                .await
                .with_context(|| format!("{} of {:?}", query.label(), target.kind))?;
            let status = resp.status();
            let body = resp.bytes().await.context("reading a query answer")?;
            let took = started.elapsed();
            if !status.is_success() {
                bail!(
                    "{} answered {status}: {}",
                    query.label(),
                    String::from_utf8_lossy(&body).chars().take(300).collect::<String>()
                );
            }
            if warm_left > 0 {
                // A query slow enough to eat a tenth of the budget is past caring about
                // warm caches: the rest of its warm-up is skipped.
                warm_left = if took > budget / 10 { 0 } else { warm_left - 1 };
            } else {
                samples.push(took);
                timed_left -= 1;
            }
            last = body;
        }
        let answer =
            target.parse_answer(query, &last).with_context(|| format!("decoding {}", query.label()))?;
        if answer.len() == 0 {
            bail!(
                "{} returned no points: {}",
                query.label(),
                String::from_utf8_lossy(&last).chars().take(300).collect::<String>()
            );
        }
        let latency = Percentiles::of(&samples).context("no samples")?;
        out.push(QueryTiming { query, latency, answer });
    }
    Ok(out)
}
