//! A private docker daemon for the tests that compare strata with docker or hand images
//! to it: `dockerd` on its own unix socket, with its own data and exec roots in a temp
//! dir, no iptables rules, no bridge and no IP forwarding, so it touches nothing of the
//! host's docker. It stops when the last test holding it drops it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::{describe, output, run_ok};

/// The docker client to drive the daemon with: Debian's `docker.io` client, the
/// daemon's own version, when it is there (a newer `docker` may come first on PATH).
fn client() -> PathBuf {
    let debian = Path::new("/usr/bin/docker");
    if debian.is_file() {
        debian.to_owned()
    } else {
        PathBuf::from("docker")
    }
}

/// A running `dockerd`; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Docker {
    /// `unix://DIR/d.sock`.
    host: String,
    dir: tempfile::TempDir,
    child: Child,
    /// Held while building: two builds of one Dockerfile at once would both miss the
    /// build cache and make two images, and the tag would move under a test's feet.
    building: Mutex<()>,
}

impl Docker {
    /// The daemon of this test binary: the one the tests running now share, or a new one
    /// when none is running.
    pub fn shared() -> Arc<Docker> {
        static SHARED: Mutex<Weak<Docker>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(docker) = shared.upgrade() {
            return docker;
        }
        let docker = Arc::new(Docker::start());
        *shared = Arc::downgrade(&docker);
        docker
    }

    /// Starts a daemon and waits until it answers `docker info`.
    pub fn start() -> Docker {
        // Short paths: a unix socket path is limited to ~100 bytes, containerd's included.
        let dir = tempfile::Builder::new()
            .prefix("sdk-")
            .tempdir_in("/tmp")
            .unwrap();
        let p = |name: &str| dir.path().join(name);
        std::fs::create_dir(p("config")).unwrap();
        let host = format!("unix://{}", p("d.sock").display());
        let log = std::fs::File::create(p("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .args(["--iptables=false", "--ip-forward=false", "--bridge=none"])
            .arg("--data-root")
            .arg(p("data"))
            .arg("--exec-root")
            .arg(p("x"))
            .arg("--pidfile")
            .arg(p("pid"))
            .args(["-H", &host])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd (make test installs docker.io)");
        let docker = Docker {
            host,
            dir,
            child,
            building: Mutex::new(()),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = output(docker.command().arg("info"));
            if info.status.success() {
                return docker;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not start: {}\n--- dockerd log ---\n{}",
                describe(&info),
                docker.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A `docker -H SOCKET` command with its own client config dir, ready for a
    /// subcommand.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(client());
        cmd.env("DOCKER_CONFIG", self.dir.path().join("config"))
            .env_remove("DOCKER_CONTEXT")
            .args(["-H", &self.host]);
        cmd
    }

    /// Runs `docker ARGS`, which must succeed, and returns its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&run_ok(self.command().args(args)).stdout).into_owned()
    }

    /// Builds `context` as `tag` with docker's classic builder (what `docker save` of
    /// docker 20.10 users holds), without network (the daemon has no bridge). Builds
    /// run one at a time, so building the same context again gives the same image.
    pub fn build(&self, context: &Path, tag: &str) {
        let _one_at_a_time = self.building.lock().unwrap_or_else(PoisonError::into_inner);
        run_ok(
            self.command()
                .env("DOCKER_BUILDKIT", "0")
                .args(["build", "-q", "--network", "none", "-t", tag])
                .arg(context),
        );
    }

    /// `unix://SOCKET`, for tools that talk to the daemon themselves (skopeo's
    /// `--src-daemon-host`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd and unmount its layers; SIGKILL if not.
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
