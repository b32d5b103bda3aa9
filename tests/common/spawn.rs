//! Starting a `redis-server` process and waiting until it accepts connections: shared
//! by the single server (`redis_server.rs`) and the cluster's nodes
//! (`redis_backend/cluster.rs`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Starts `program` (a `redis-server`) on loopback `port`, without persistence, with
/// its files in `dir` and `args` added, and waits (at most 20 s) for its "Ready to
/// accept connections" line.
pub fn ready_server(program: &str, port: u16, dir: &Path, args: &[String]) -> Child {
    let mut child = Command::new(program)
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let stdout = child.stdout.take().expect("piped stdout");
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("Ready to accept connections") {
                let _ = ready_tx.send(());
            }
        }
    });
    if ready_rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{program} on port {port} did not become ready within 20 s");
    }
    child
}
