//! A real `redis-server` for tests: started on a free loopback port in a temporary
//! directory, stopped (and its directory removed) when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

#[path = "spawn.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "the server and the cluster share it, and some binaries load both"
)]
mod spawn;

/// A running `redis-server` owned by a test.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// More `redis-server` arguments.
    args: Vec<String>,
}

/// The `redis-server` binary: `HAIWAY_REDIS_SERVER` if set, else `redis-server` on the
/// `PATH`.
fn binary() -> String {
    std::env::var("HAIWAY_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

impl RedisServer {
    /// Starts a server. When `redis-server` is not installed, returns why, for the test
    /// to report itself as ignored; with `HAIWAY_REQUIRE_REDIS=1` it panics instead, so
    /// the test fails.
    pub fn start() -> Result<RedisServer, String> {
        RedisServer::start_with(&[])
    }

    /// Starts a server with more arguments (such as `--rename-command CLIENT ""`).
    pub fn start_with(args: &[&str]) -> Result<RedisServer, String> {
        let installed = Command::new(binary())
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            let why = format!(
                "{} is not installed: apt-get install redis-server",
                binary()
            );
            assert!(
                std::env::var("HAIWAY_REQUIRE_REDIS").as_deref() != Ok("1"),
                "HAIWAY_REQUIRE_REDIS=1 but {why}"
            );
            return Err(why);
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let dir = std::env::temp_dir().join(format!("haiway-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir for redis");
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        };
        server.spawn();
        Ok(server)
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts `redis-server` and waits until it accepts connections.
    fn spawn(&mut self) {
        self.child = Some(spawn::ready_server(
            &binary(),
            self.port,
            &self.dir,
            &self.args,
        ));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
