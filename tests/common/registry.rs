//! Test helpers for the registry tests: a real `docker-registry` started on 127.0.0.1
//! (optionally with TLS from a throwaway CA and htpasswd auth), and a fault-injecting TCP
//! proxy that answers 503 or cuts uploads in the middle, seeded and bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::run;

/// The only address these helpers ever listen on or connect to.
pub const LOOPBACK: &str = "127.0.0.1";

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind((LOOPBACK, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Copies the image `name` of the OCI layout `layout` to `docker://dest` with skopeo
/// (plain HTTP, as the test registries on 127.0.0.1 speak it), writing the manifest in
/// `format`: `oci` or Docker's `v2s2`.
pub fn skopeo_push(layout: &Path, name: &str, dest: &str, format: &str) {
    run(
        "skopeo",
        &[
            "copy",
            "--format",
            format,
            "--dest-tls-verify=false",
            &format!("oci:{}:{name}", layout.display()),
            &format!("docker://{dest}"),
        ],
    );
}

/// How to start a registry.
#[derive(Default)]
pub struct RegistrySpec {
    /// Serve HTTPS with a certificate from a throwaway CA.
    pub tls: bool,
    /// Require this user and password (htpasswd, bcrypt).
    pub user: Option<(String, String)>,
}

/// A running `docker-registry`; killed when dropped.
pub struct Registry {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The CA certificate (PEM) when serving TLS.
    pub ca_file: Option<PathBuf>,
    /// A directory holding `ca.crt`, for `skopeo --cert-dir`.
    pub cert_dir: Option<PathBuf>,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry per `spec` and waits until it accepts connections.
    pub fn start(spec: &RegistrySpec) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {LOOPBACK}:{port}\n  secret: strata-test-secret\n",
            dir.path().join("data").display()
        );
        let (mut ca_file, mut cert_dir) = (None, None);
        if spec.tls {
            let (ca, certs) = make_certificates(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("cert.pem").display(),
                dir.path().join("key.pem").display()
            ));
            ca_file = Some(ca);
            cert_dir = Some(certs);
        }
        if let Some((user, password)) = &spec.user {
            let hash = bcrypt::hash_with_result(password, 5)
                .unwrap()
                .format_for_version(bcrypt::Version::TwoA);
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("registry.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let registry = Registry {
            port,
            ca_file,
            cert_dir,
            log,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((LOOPBACK, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                registry.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("{LOOPBACK}:{}", self.port)
    }

    /// The registry's log so far (access log lines included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Access-log requests: `(method, path, status)` of every `"METHOD /v2/..."` line.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.log()
            .lines()
            .filter_map(|line| {
                let start = line.find("\"")? + 1;
                let rest = &line[start..];
                let end = rest.find('"')?;
                let mut request = rest[..end].split(' ');
                let method = request.next()?.to_owned();
                let path = request.next()?.to_owned();
                if !path.starts_with("/v2/") {
                    return None;
                }
                let status = rest[end + 1..].split_whitespace().next()?.parse().ok()?;
                Some((method, path, status))
            })
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it; returns the CA file and a
/// `--cert-dir` holding it as `ca.crt`.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name).display().to_string();
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=strata-test-ca",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ],
    );
    run(
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("key.pem"),
            "-out",
            &p("server.csr"),
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("cert.pem"),
        ],
    );
    let cert_dir = dir.join("certs.d");
    std::fs::create_dir_all(&cert_dir).unwrap();
    std::fs::copy(dir.join("ca.pem"), cert_dir.join("ca.crt")).unwrap();
    (dir.join("ca.pem"), cert_dir)
}

/// A TCP proxy on 127.0.0.1 in front of a plain-HTTP registry. Each connection carries
/// one request (the proxy adds `Connection: close`). While its fault budget lasts, each
/// request fails with probability `probability`: a `PATCH` with a body is cut after
/// half of it (both sockets closed), anything else gets a 503. Seeded, so a run is
/// repeatable; stopped when dropped.
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    faults: Arc<AtomicUsize>,
    cut_uploads: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts the proxy towards `127.0.0.1:upstream`.
    pub fn start(upstream: u16, seed: u64, probability: f64, max_faults: usize) -> FaultProxy {
        let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults = Arc::new(AtomicUsize::new(0));
        let cut_uploads = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(Mutex::new(seed | 1));
        let thread = {
            let (faults, cut_uploads, stop) = (faults.clone(), cut_uploads.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            client.set_nonblocking(false).unwrap();
                            let roll = next_fraction(&rng);
                            let fault = roll < probability
                                && faults.fetch_add(1, Ordering::SeqCst) < max_faults;
                            if !fault && roll < probability {
                                faults.fetch_sub(1, Ordering::SeqCst);
                            }
                            let cut_uploads = cut_uploads.clone();
                            std::thread::spawn(move || {
                                let _ = serve(client, upstream, fault, &cut_uploads);
                            });
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => return,
                    }
                }
            })
        };
        FaultProxy {
            port,
            faults,
            cut_uploads,
            stop,
            thread: Some(thread),
        }
    }

    /// Faults injected so far (503 answers plus cut uploads).
    pub fn faults(&self) -> usize {
        self.faults.load(Ordering::SeqCst)
    }

    /// Uploads cut in the middle so far.
    pub fn cut_uploads(&self) -> usize {
        self.cut_uploads.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn next_fraction(rng: &Mutex<u64>) -> f64 {
    let mut state = rng.lock().unwrap();
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// Handles one client connection.
fn serve(
    client: TcpStream,
    upstream: u16,
    fault: bool,
    cut_uploads: &AtomicUsize,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    // A TLS ClientHello (first byte 0x16): answer as a plain-HTTP server would.
    if reader.fill_buf()?.first() == Some(&0x16) {
        (&client).write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")?;
        return client.shutdown(Shutdown::Both);
    }
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(&line);
        }
    }
    let method = head.split(' ').next().unwrap_or_default().to_owned();
    let content_length: u64 = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let cut = fault && method == "PATCH" && content_length > 1;
    if fault && !cut {
        (&client).write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return client.shutdown(Shutdown::Both);
    }
    let mut server = TcpStream::connect((LOOPBACK, upstream))?;
    server.write_all(head.as_bytes())?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    if cut {
        let mut half = (&mut reader).take(content_length / 2);
        std::io::copy(&mut half, &mut server)?;
        server.flush()?;
        cut_uploads.fetch_add(1, Ordering::SeqCst);
        let _ = server.shutdown(Shutdown::Both);
        return client.shutdown(Shutdown::Both);
    }
    let mut to_server = server.try_clone()?;
    let body = std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader.take(content_length), &mut to_server);
    });
    let mut from_server = server;
    std::io::copy(&mut from_server, &mut (&client))?;
    let _ = body.join();
    client.shutdown(Shutdown::Both)
}
