//! `monitor-bench latency`: single-event POST latency at a steady rate, and how soon an
//! accepted event reaches an SSE subscriber (issue 4's freshness figures).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use serde_json::json;

use crate::stats::Percentiles;

/// Posts `rate` single events per second for `seconds`, each to `POST /api/events`,
/// while an SSE subscriber filtered on the probe session waits for them. Prints the POST
/// latency percentiles, the achieved rate, and SSE arrival measured from the `202`.
pub(crate) async fn run(url: &str, rate: u32, seconds: u32) -> Result<()> {
    let base = url.trim_end_matches('/');
    let client =
        crate::http_client().timeout(Duration::from_secs(30)).build().context("building the HTTP client")?;
    let session = format!("latency-probe-{}", std::process::id());
    let response = client
        .get(format!("{base}/api/metrics/stream?sessionId={session}"))
        .send()
        .await
        .context("opening the SSE stream")?;
    if !response.status().is_success() {
        bail!("SSE stream answered {}", response.status());
    }
    // The reader records when each event id arrives.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let mut stream = response.bytes_stream();
    let reader = tokio::spawn(async move {
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            let now = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                for line in frame.lines() {
                    if let Some(data) = line.strip_prefix("data:")
                        && let Ok(event) = serde_json::from_str::<serde_json::Value>(data.trim())
                        && let Some(id) = event["id"].as_str()
                    {
                        let _ = tx.send((id.to_owned(), now));
                    }
                }
            }
        }
    });
    let total = rate.saturating_mul(seconds).max(1);
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut posts = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..total {
        ticker.tick().await;
        let client = client.clone();
        let url = format!("{base}/api/events");
        let id = format!("{session}-{i}");
        let event = json!({"id": id, "source": "system", "type": "performance", "sessionId": session,
                           "payload": {"operation": "bench:latency", "duration": 1.0}});
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(event.to_string())
                .send()
                .await;
            let done = Instant::now();
            match response {
                Ok(r) if r.status().as_u16() == 202 => Ok((id, sent, done)),
                Ok(r) => Err(anyhow::anyhow!("POST answered {}", r.status())),
                Err(e) => Err(anyhow::anyhow!("POST failed: {e}")),
            }
        }));
    }
    for task in tasks {
        posts.push(task.await.context("joining a sender")??);
    }
    let elapsed = started.elapsed();
    // Collect SSE arrivals for every posted id (bounded wait).
    let mut arrivals = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrivals.len() < posts.len() && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            Ok(Some((id, at))) => {
                arrivals.insert(id, at);
            }
            Ok(None) => break,
            Err(_) => {}
        }
    }
    reader.abort();
    let post_latency: Vec<Duration> =
        posts.iter().map(|(_, sent, done)| done.duration_since(*sent)).collect();
    let after_ack: Vec<Duration> = posts
        .iter()
        .filter_map(|(id, _, done)| arrivals.get(id).map(|at| at.saturating_duration_since(*done)))
        .collect();
    let after_send: Vec<Duration> = posts
        .iter()
        .filter_map(|(id, sent, _)| arrivals.get(id).map(|at| at.duration_since(*sent)))
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let achieved = posts.len() as f64 / elapsed.as_secs_f64();
    println!("single-event POSTs: {} at {achieved:.0}/s (target rate {rate}/s)", posts.len());
    if let Some(p) = Percentiles::of(&post_latency) {
        println!(
            "  POST → 202        p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            p.p50, p.p95, p.p99, p.max
        );
    }
    println!("SSE arrivals: {} of {}", arrivals.len(), posts.len());
    if let Some(p) = Percentiles::of(&after_ack) {
        println!(
            "  202 → SSE event   p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms (0 = before the 202)",
            p.p50, p.p95, p.p99, p.max
        );
    }
    if let Some(p) = Percentiles::of(&after_send) {
        println!(
            "  POST → SSE event  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            p.p50, p.p95, p.p99, p.max
        );
    }
    if arrivals.len() < posts.len() {
        bail!("{} accepted events never reached the SSE subscriber", posts.len() - arrivals.len());
    }
    Ok(())
}
