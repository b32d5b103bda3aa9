//! A Redis Cluster for tests: three primaries on free loopback ports, joined with
//! `redis-cli --cluster create`, each stopped (and its directory removed) when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "../common/spawn.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "the server and the cluster share it, and some binaries load both"
)]
mod spawn;

/// Three running primaries of one cluster.
pub struct RedisCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

/// Whether `program --version` runs.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A free loopback port whose cluster bus port (+10000) is free too.
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().expect("its address").port();
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl RedisCluster {
    /// Starts the cluster, or says why it cannot (then the test is ignored; with
    /// `HAIWAY_REQUIRE_REDIS=1` it panics instead, so the test fails).
    pub fn start() -> Result<RedisCluster, String> {
        let server =
            std::env::var("HAIWAY_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        for program in [server.as_str(), "redis-cli"] {
            if !installed(program) {
                let why = format!("{program} is not installed: apt-get install redis-server");
                assert!(
                    std::env::var("HAIWAY_REQUIRE_REDIS").as_deref() != Ok("1"),
                    "HAIWAY_REQUIRE_REDIS=1 but {why}"
                );
                return Err(why);
            }
        }
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let dir = std::env::temp_dir().join(format!(
            "haiway-redis-cluster-{}-{}",
            std::process::id(),
            ports[0]
        ));
        std::fs::create_dir_all(&dir).expect("temp dir for the cluster");
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            ports: ports.clone(),
            dir,
        };
        for port in ports {
            let node = cluster.spawn(&server, port);
            cluster.nodes.push(node);
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for port in &cluster.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let status = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("run redis-cli --cluster create");
        assert!(status.success(), "redis-cli --cluster create failed");
        // A bounded poll: the nodes agree on their own time.
        for port in cluster.ports.clone() {
            let ok = (0..2_000).any(|_| {
                let ok = cluster_info(port).contains("cluster_state:ok");
                if !ok {
                    std::thread::sleep(Duration::from_millis(10));
                }
                ok
            });
            assert!(ok, "the cluster never became ok on port {port}");
        }
        Ok(cluster)
    }

    /// A URL of each node.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}/"))
            .collect()
    }

    /// Starts one node and waits for it to accept connections.
    fn spawn(&self, server: &str, port: u16) -> Child {
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).expect("node dir");
        let cluster = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ];
        let args: Vec<String> = cluster.iter().map(|a| (*a).to_owned()).collect();
        spawn::ready_server(server, port, &dir, &args)
    }
}

/// `CLUSTER INFO` of the node on `port` (empty when it does not answer).
fn cluster_info(port: u16) -> String {
    let Ok(mut connection) =
        redis::Client::open(format!("redis://127.0.0.1:{port}/")).and_then(|c| c.get_connection())
    else {
        return String::new();
    };
    redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut connection)
        .unwrap_or_default()
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
