//! Real servers that tests start as peers, from the tools `deploy/local/ensure-test-tools.sh`
//! installs (`make test` runs it; a test that finds a tool missing runs it too): today moto's
//! S3-compatible server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The path of an installed test tool (`bin/{name}` in the tools' virtual environment),
/// installing the tools first if it is missing.
pub fn test_tool(name: &str) -> PathBuf {
    let state = std::env::var("ORDO_STATE_DIR").map_or_else(|_| workspace_root().join(".run"), PathBuf::from);
    let tool = state.join("test-tools/bin").join(name);
    if !tool.exists() {
        let status = Command::new("bash")
            .arg(workspace_root().join("deploy/local/ensure-test-tools.sh"))
            .status()
            .expect("running deploy/local/ensure-test-tools.sh");
        assert!(status.success(), "deploy/local/ensure-test-tools.sh failed: {status}");
    }
    assert!(tool.exists(), "{} is not installed", tool.display());
    tool
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// moto's S3 server on its own port, killed on drop. Any access key works.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:{port}`
    pub endpoint: String,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let port = free_port();
        let child = Command::new(test_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start on {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
