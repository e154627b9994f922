//! The real `monitor-server` binary: the default SQLite store keeps every event
//! acknowledged with `202` through a SIGKILL, and SIGTERM drains before exiting.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{client, perf};
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(data_dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_monitor-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("MONITOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts")
}

async fn wait_ready(base: &str) {
    for _ in 0..300 {
        if let Ok(r) = client().get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["store"]["kind"], "sqlite", "the default store is SQLite: {body}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} never became ready");
}

async fn stored(base: &str) -> usize {
    let answer: Value = client()
        .get(format!("{base}/api/metrics/query?start=0&limit=100000&cache=false"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn sigkill_right_after_202_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn(dir.path(), port);
    wait_ready(&base).await;
    let mut acknowledged = 0;
    for round in 0..20 {
        let batch: Vec<Value> = (0..50).map(|i| perf("p", &format!("s{round}"), f64::from(i))).collect();
        let response = client().post(format!("{base}/api/events")).json(&batch).send().await.unwrap();
        assert_eq!(response.status(), 202);
        acknowledged += 50;
    }
    let single =
        client().post(format!("{base}/api/events")).json(&perf("p", "last", 1.0)).send().await.unwrap();
    assert_eq!(single.status(), 202);
    acknowledged += 1;
    server.kill().unwrap(); // SIGKILL, right after the last 202
    server.wait().unwrap();

    let mut server = spawn(dir.path(), port);
    wait_ready(&base).await;
    assert_eq!(stored(&base).await, acknowledged, "every acknowledged event survived SIGKILL");
    let rollup: Value = client()
        .get(format!("{base}/api/metrics/query?start=0&aggregation=1d&cache=false"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let counted: u64 = rollup["data"].as_array().unwrap().iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, acknowledged as u64, "and the rollups agree");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn sigterm_drains_in_flight_work_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn(dir.path(), port);
    wait_ready(&base).await;
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let senders: Vec<_> = (0..4)
        .map(|w| {
            let base = base.clone();
            let progress = progress.clone();
            tokio::spawn(async move {
                let mut acknowledged = 0usize;
                for round in 0..200 {
                    let batch: Vec<Value> =
                        (0..20).map(|i| perf("p", &format!("w{w}-{round}"), f64::from(i))).collect();
                    match client().post(format!("{base}/api/events")).json(&batch).send().await {
                        Ok(r) if r.status() == 202 => {
                            acknowledged += 20;
                            progress.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        _ => break, // refused (503) or connection closed: not acknowledged
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Signal while requests are in flight: after the first few acknowledgements.
    while progress.load(std::sync::atomic::Ordering::SeqCst) < 8 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut acknowledged = 0;
    for sender in senders {
        acknowledged += sender.await.unwrap();
    }
    let exit = server.wait().unwrap();
    assert!(exit.success(), "graceful exit, got {exit:?}");
    assert!(acknowledged > 0);

    let mut server = spawn(dir.path(), port);
    wait_ready(&base).await;
    assert_eq!(stored(&base).await, acknowledged, "every event acknowledged before shutdown is stored");
    server.kill().unwrap();
    server.wait().unwrap();
}
