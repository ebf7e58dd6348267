//! Requests to registries: the base URL of each host (HTTPS, or plain HTTP where
//! allowed), the `Authorization` header (basic, or bearer tokens fetched from the
//! challenge's realm and cached per scope), and retries with exponential backoff and
//! jitter on 5xx, 429 and broken connections.
//!
//! A hostile or broken registry cannot hold a request for long: connecting, the whole
//! response head and every single read of a body are bounded by
//! [`RegistryOptions::timeout`], a body must keep up a pace of [`MIN_PACE`] (a server
//! trickling a byte a second fails, see [`Paced`]), a timed-out request is tried again
//! only once, and at most [`MAX_REDIRECTS`] redirects are followed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::http::{self, Response};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Body, SendBody};

use super::auth::{self, Challenge, Credentials};
use super::conf::RegistriesConf;
use super::error::RegistryError;
use super::options::RegistryOptions;
use super::progress::{no_progress, Progress};
use crate::digest::Digest;

/// The longest error body read to explain a failure.
const MAX_ERROR_BODY: u64 = 64 << 10;
/// The longest delay between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The most redirects followed for one request (a registry redirects a blob once, to
/// its storage).
pub(super) const MAX_REDIRECTS: u32 = 5;
/// The slowest a response body may arrive, in bytes a second, averaged over each window
/// of [`RegistryOptions::timeout`].
pub(super) const MIN_PACE: u64 = 1024;

/// The HTTP side of a [`Client`](super::Client): one agent, per-host auth state, the
/// retry jitter, and the progress sink that hears of retries and bytes sent. Cheap to
/// clone; clones share all but the progress sink.
#[derive(Clone)]
pub(super) struct Transport {
    shared: Arc<Shared>,
    /// Where retries and upload progress are reported.
    pub(super) progress: Arc<dyn Progress>,
}

/// What clones of a [`Transport`] share.
struct Shared {
    agent: ureq::Agent,
    /// The agent for hosts registries.conf calls `insecure`: TLS unverified.
    insecure_agent: Option<ureq::Agent>,
    options: RegistryOptions,
    conf: Arc<RegistriesConf>,
    hosts: Mutex<HashMap<String, HostState>>,
    rng: Mutex<u64>,
}

/// What the client learned about one registry host.
#[derive(Default)]
struct HostState {
    /// `https://host` or `http://host`, once a request got through.
    base: Option<String>,
    /// The scheme its last 401 asked for.
    challenge: Option<Challenge>,
    /// Credentials from the auth files (`Some(None)`: looked up, anonymous).
    credentials: Option<Option<Credentials>>,
    /// Bearer tokens by scope.
    tokens: HashMap<String, String>,
}

/// How a request authenticates.
#[derive(Clone, Debug)]
pub(super) enum Auth {
    /// As the registry asks, for this scope (`repository:NAME:pull,push`, space-separated
    /// for several).
    Registry(String),
    /// These credentials as a `Basic` header, whatever the registry asks (login checks).
    Basic(Credentials),
    /// Nothing.
    None,
}

/// A request body.
pub(super) enum ReqBody<'a> {
    /// No body and no `Content-Length`.
    None,
    /// These bytes.
    Bytes(&'a [u8]),
    /// `len` bytes of `path` from `offset`, streamed; progress reported for `digest`
    /// as `offset + sent`.
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
        digest: &'a Digest,
    },
}

/// One request. `target` is a path (`/v2/...`) on `host`, or an absolute URL (an upload
/// `Location`).
pub(super) struct Request<'a> {
    pub method: &'static str,
    pub host: &'a str,
    pub target: String,
    pub auth: Auth,
    pub headers: Vec<(&'static str, String)>,
    pub body: ReqBody<'a>,
    /// Retry on 5xx, 429 and broken connections (not for a PATCH, whose offset the
    /// caller must check first).
    pub retry: bool,
}

impl<'a> Request<'a> {
    /// A retried request without body or extra headers.
    pub fn new(method: &'static str, host: &'a str, target: String, auth: Auth) -> Self {
        Request {
            method,
            host,
            target,
            auth,
            headers: Vec::new(),
            body: ReqBody::None,
            retry: true,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: ReqBody<'a>) -> Self {
        self.body = body;
        self
    }
}

impl Transport {
    /// A transport with `options` and the `insecure` hosts of `conf`, reporting
    /// nothing. Fails only on an unreadable CA file.
    pub(super) fn new(
        options: RegistryOptions,
        conf: Arc<RegistriesConf>,
    ) -> Result<Transport, RegistryError> {
        let agent = new_agent(&options, options.tls_verify)?;
        let insecure_agent = if conf.any_insecure() {
            Some(new_agent(&options, false)?)
        } else {
            None
        };
        Ok(Transport {
            shared: Arc::new(Shared {
                agent,
                insecure_agent,
                rng: Mutex::new(options.jitter_seed | 1),
                options,
                conf,
                hosts: Mutex::new(HashMap::new()),
            }),
            progress: no_progress(),
        })
    }

    /// The agent for requests to `host`: an unverifying one for an insecure host.
    fn agent(&self, host: &str) -> &ureq::Agent {
        match &self.shared.insecure_agent {
            Some(agent) if self.shared.conf.insecure(host) => agent,
            _ => &self.shared.agent,
        }
    }

    /// The options the transport was made with.
    pub(super) fn options(&self) -> &RegistryOptions {
        &self.shared.options
    }

    /// Checks `credentials` against `host` (`GET /v2/` with them, through the token flow
    /// if the registry uses one).
    pub(super) fn check_credentials(
        &self,
        host: &str,
        credentials: &Credentials,
    ) -> Result<(), RegistryError> {
        let response = self.send(Request::new(
            "GET",
            host,
            "/v2/".into(),
            Auth::Basic(credentials.clone()),
        ))?;
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(Challenge::parse);
        match (status, challenge) {
            (200..=299, _) => Ok(()),
            (401, Some(Challenge::Bearer { realm, service, .. })) => self
                .fetch_token(host, &realm, service.as_deref(), None, Some(credentials))
                .map(drop),
            _ => Err(self.status_error("GET", host, "/v2/", response)),
        }
    }

    /// Forgets what was learnt about `host` (its challenge, credentials and tokens), so
    /// that the next request reads the auth files again: after a login or logout.
    pub(super) fn forget(&self, host: &str) {
        self.lock_hosts().remove(host);
    }

    /// Sends `request` with auth and retries. Statuses other than 401 (handled here
    /// once) come back as responses; the caller decides what they mean.
    pub(super) fn send(&self, request: Request<'_>) -> Result<Response<Body>, RegistryError> {
        let url = self.url(request.host, &request.target)?;
        let mut attempt = 0;
        let mut timeouts = 0;
        let mut reauthenticated = false;
        loop {
            let authorization = self.authorization(request.host, &request.auth, &url)?;
            let result = self.run_once(&request, &url, authorization.as_deref());
            let retry_after = match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 401 && !reauthenticated && !matches!(request.auth, Auth::None) {
                        reauthenticated = true;
                        if self.learn_challenge(request.host, &request.auth, &response) {
                            continue;
                        }
                    }
                    if !(request.retry && retryable_status(status))
                        || attempt >= self.options().retries
                    {
                        return Ok(response);
                    }
                    response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                }
                Err(e) => {
                    // A registry that does not answer in time will likely not answer the
                    // next time either: one more try, not the full retry count.
                    let timed_out = is_timeout(&e);
                    timeouts += u32::from(timed_out);
                    if !(request.retry && retryable_error(&e))
                        || attempt >= self.options().retries
                        || timeouts > 1
                    {
                        let tries = if attempt > 0 {
                            format!(" (after {} attempts)", attempt + 1)
                        } else {
                            String::new()
                        };
                        return Err(RegistryError::Transport {
                            method: request.method.into(),
                            url,
                            message: format!("{}{tries}", self.describe(&e)),
                        });
                    }
                    None
                }
            };
            attempt += 1;
            let delay = self.backoff(attempt, retry_after);
            self.progress
                .retrying(&format!("{} {url}", request.method), attempt, delay);
            std::thread::sleep(delay);
        }
    }

    /// One try of `request`, no retry.
    fn run_once(
        &self,
        request: &Request<'_>,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<Response<Body>, ureq::Error> {
        let mut builder = http::Request::builder().method(request.method).uri(url);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(authorization) = authorization {
            builder = builder.header("authorization", authorization);
        }
        let agent = self.agent(request.host);
        match &request.body {
            ReqBody::None => agent.run(builder.body(())?),
            ReqBody::Bytes(bytes) => agent.run(builder.body(*bytes)?),
            ReqBody::File {
                path,
                offset,
                len,
                digest,
            } => {
                let mut file = File::open(path)?;
                file.seek(SeekFrom::Start(*offset))?;
                let reader = ProgressReader {
                    inner: file.take(*len),
                    progress: Arc::clone(&self.progress),
                    digest: (*digest).clone(),
                    done: *offset,
                };
                let builder = builder
                    .header("content-length", len.to_string())
                    .header("content-type", "application/octet-stream");
                agent.run(builder.body(SendBody::from_owned_reader(reader))?)
            }
        }
    }

    /// The URL of `target` on `host`, finding the scheme on first contact.
    fn url(&self, host: &str, target: &str) -> Result<String, RegistryError> {
        if target.starts_with("https://") || target.starts_with("http://") {
            return Ok(target.to_owned());
        }
        Ok(format!("{}{target}", self.base(host)?))
    }

    /// `https://host`, or `http://host` where plain HTTP is allowed and HTTPS fails for a
    /// reason other than a bad certificate. Found with `GET /v2/`, whose challenge is
    /// kept.
    pub(super) fn base(&self, host: &str) -> Result<String, RegistryError> {
        if let Some(base) = self.lock_hosts().get(host).and_then(|h| h.base.clone()) {
            return Ok(base);
        }
        let plain_allowed =
            self.options().insecure || is_loopback(host) || self.shared.conf.insecure(host);
        let https = format!("https://{host}");
        let err = match self.ping(host, &https) {
            Ok(()) => return self.set_base(host, https),
            Err(e) => e,
        };
        // rustls' error type is not part of ureq's stable API: recognise it by its text.
        let certificate_problem = describe(&err).to_lowercase().contains("certificate");
        if plain_allowed && !certificate_problem {
            let http = format!("http://{host}");
            if self.ping(host, &http).is_ok() {
                return self.set_base(host, http);
            }
        }
        let hint = if certificate_problem {
            "; hint: pass the registry's CA file, or --tls-verify=false"
        } else {
            ""
        };
        Err(RegistryError::Transport {
            method: "GET".into(),
            url: format!("{https}/v2/"),
            message: format!("{}{hint}", self.describe(&err)),
        })
    }

    fn set_base(&self, host: &str, base: String) -> Result<String, RegistryError> {
        self.lock_hosts().entry(host.into()).or_default().base = Some(base.clone());
        Ok(base)
    }

    /// `GET base/v2/`: any HTTP answer means the scheme works. Refused connections are
    /// not retried here, so a registry that is down fails fast.
    fn ping(&self, host: &str, base: &str) -> Result<(), ureq::Error> {
        let mut attempt = 0;
        let mut timed_out = false;
        loop {
            match self.agent(host).get(format!("{base}/v2/")).call() {
                Ok(response) if retryable_status(response.status().as_u16()) => {}
                // Any other answer of a registry: 200, or 401 asking for credentials.
                // (An HTTPS server asked in plain HTTP answers 400.)
                Ok(response) if matches!(response.status().as_u16(), 200 | 401) => return Ok(()),
                Ok(response) => {
                    return Err(ureq::Error::BadUri(format!(
                        "{base}/v2/ answered HTTP {}: not a registry",
                        response.status().as_u16()
                    )))
                }
                Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(ureq::Error::Io(e))
                }
                Err(e) if !retryable_error(&e) => return Err(e),
                Err(e) if attempt >= self.options().retries => return Err(e),
                // As in `send`: a timeout is tried once more, not the full count.
                Err(e) if is_timeout(&e) && timed_out => return Err(e),
                Err(e) => timed_out |= is_timeout(&e),
            }
            if attempt >= self.options().retries {
                return Ok(());
            }
            attempt += 1;
            std::thread::sleep(self.backoff(attempt, None));
        }
    }

    /// The `Authorization` header for a request to `url` on `host`.
    fn authorization(
        &self,
        host: &str,
        auth: &Auth,
        url: &str,
    ) -> Result<Option<String>, RegistryError> {
        let scope = match auth {
            Auth::None => return Ok(None),
            Auth::Basic(credentials) => return Ok(Some(credentials.basic_header())),
            Auth::Registry(scope) => scope,
        };
        // Credentials go only to the registry itself, never to a redirect target or a
        // Location on another host.
        let base = self.lock_hosts().get(host).and_then(|h| h.base.clone());
        if !base.is_some_and(|b| url.starts_with(&b)) {
            return Ok(None);
        }
        let challenge = self
            .lock_hosts()
            .get(host)
            .and_then(|h| h.challenge.clone());
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials(host)?.map(|c| c.basic_header())),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let cached = self
                    .lock_hosts()
                    .get(host)
                    .and_then(|h| h.tokens.get(scope).cloned());
                if let Some(token) = cached {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let credentials = self.credentials(host)?;
                let token = self.fetch_token(
                    host,
                    &realm,
                    service.as_deref(),
                    Some(scope),
                    credentials.as_ref(),
                )?;
                self.lock_hosts()
                    .entry(host.into())
                    .or_default()
                    .tokens
                    .insert(scope.clone(), token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Records the challenge of a 401 answer; returns whether a retry may now succeed.
    fn learn_challenge(&self, host: &str, auth: &Auth, response: &Response<Body>) -> bool {
        let Some(challenge) = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(Challenge::parse)
        else {
            return false;
        };
        let mut hosts = self.lock_hosts();
        let state = hosts.entry(host.into()).or_default();
        if let Auth::Registry(scope) = auth {
            state.tokens.remove(scope);
        }
        state.challenge = Some(challenge);
        true
    }

    /// The credentials for `host` from the auth files, looked up once per client.
    fn credentials(&self, host: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(found) = self
            .lock_hosts()
            .get(host)
            .and_then(|h| h.credentials.clone())
        {
            return Ok(found);
        }
        let found = auth::credentials_for(host, self.options().auth_file.as_deref())?;
        self.lock_hosts()
            .entry(host.into())
            .or_default()
            .credentials = Some(found.clone());
        Ok(found)
    }

    /// A bearer token from `realm` for `scope` (space-separated scopes become several
    /// `scope` parameters), with `credentials` as basic auth when there are some.
    fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
        credentials: Option<&Credentials>,
    ) -> Result<String, RegistryError> {
        let mut query = Vec::new();
        if let Some(service) = service {
            query.push(format!("service={}", percent_encode(service)));
        }
        for scope in scope.unwrap_or_default().split_whitespace() {
            query.push(format!("scope={}", percent_encode(scope)));
        }
        let separator = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{separator}{}", query.join("&"));
        let auth = credentials.map_or(Auth::None, |c| Auth::Basic(c.clone()));
        let mut response = self.send(Request::new("GET", host, url.clone(), auth))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(self.status_error("GET", host, &url, response));
        }
        if !response.status().is_success() {
            return Err(self.status_error("GET", host, &url, response));
        }
        let mut answer = Vec::new();
        let answer: serde_json::Value = self
            .body(&mut response, 1 << 20)
            .read_to_end(&mut answer)
            .map(|_| answer)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .map_err(|e| RegistryError::Protocol {
                url: url.clone(),
                reason: format!("bad token answer: {e}"),
            })?;
        ["token", "access_token"]
            .iter()
            .find_map(|k| answer.get(*k).and_then(|v| v.as_str()))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| RegistryError::Protocol {
                url,
                reason: "token answer has neither token nor access_token".into(),
            })
    }

    /// The error for an unexpected answer, with the registry's own message.
    pub(super) fn status_error(
        &self,
        method: &str,
        host: &str,
        target: &str,
        mut response: Response<Body>,
    ) -> RegistryError {
        let url = self.url(host, target).unwrap_or_else(|_| target.to_owned());
        let status = response.status().as_u16();
        // Read at the minimum pace too: a trickled error body must not hold the caller.
        let mut body = String::new();
        let _ = self
            .body(&mut response, MAX_ERROR_BODY)
            .read_to_string(&mut body);
        let detail = registry_message(&body);
        if status == 401 || status == 403 {
            RegistryError::Unauthorized {
                url,
                host: host.into(),
                status,
                detail,
            }
        } else {
            RegistryError::Status {
                method: method.into(),
                url,
                status,
                detail,
            }
        }
    }

    /// The delay before retry `attempt` (1-based): `backoff * 2^(attempt-1)`, at most
    /// [`MAX_BACKOFF`], times a jitter in [0.5, 1); or what `Retry-After` asked, capped.
    pub(super) fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(MAX_BACKOFF);
        }
        let base = self
            .options()
            .backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        let mut rng = self
            .shared
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // xorshift64: cheap, seeded, good enough to spread retries.
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let fraction = (*rng >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.5 + fraction / 2.0)
    }

    /// A one-line description of a transport error; a timeout says how long it waited.
    fn describe(&self, error: &ureq::Error) -> String {
        if is_timeout(error) {
            let secs = self.options().timeout.as_secs_f64();
            format!(
                "{} (no progress within the {secs} s registry timeout)",
                describe(error)
            )
        } else if matches!(error, ureq::Error::TooManyRedirects) {
            format!("more than {MAX_REDIRECTS} redirects: a redirect loop?")
        } else {
            describe(error)
        }
    }

    /// `response`'s body as a reader of at most `limit` bytes that fails when a read
    /// stalls past the timeout (the agent's per-read timeout) or the body trickles in
    /// slower than [`MIN_PACE`].
    pub(super) fn body<'r>(
        &self,
        response: &'r mut Response<Body>,
        limit: u64,
    ) -> Paced<impl Read + 'r> {
        Paced {
            inner: response.body_mut().with_config().limit(limit).reader(),
            window: self.options().timeout,
            started: Instant::now(),
            bytes: 0,
        }
    }

    fn lock_hosts(&self) -> std::sync::MutexGuard<'_, HashMap<String, HostState>> {
        self.shared
            .hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// An HTTP agent with `options`' timeouts and CA file, verifying TLS when `verify`.
fn new_agent(options: &RegistryOptions, verify: bool) -> Result<ureq::Agent, RegistryError> {
    let mut tls = TlsConfig::builder().disable_verification(!verify);
    if let Some(path) = &options.ca_file {
        tls = tls.root_certs(read_ca_file(path)?);
    }
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls.build())
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(options.timeout))
        .timeout_recv_response(Some(options.timeout))
        .timeout_per_read(Some(options.timeout))
        .max_redirects(MAX_REDIRECTS)
        .build()
        .new_agent())
}

/// A response body that must arrive at [`MIN_PACE`] at least, averaged over each
/// `window`: the per-read timeout alone lets a server that sends a byte a second keep
/// a pull alive for ever. Fails with [`std::io::ErrorKind::TimedOut`].
pub(super) struct Paced<R> {
    inner: R,
    window: Duration,
    /// Start of the current window.
    started: Instant,
    /// Bytes read in the current window.
    bytes: u64,
}

impl<R: Read> Read for Paced<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        let elapsed = self.started.elapsed();
        if n > 0 && elapsed >= self.window {
            if (self.bytes as f64) < MIN_PACE as f64 * elapsed.as_secs_f64() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the body came at {:.0} bytes/s over {:.1} s, under the minimum of {MIN_PACE} bytes/s",
                        self.bytes as f64 / elapsed.as_secs_f64(),
                        elapsed.as_secs_f64()
                    ),
                ));
            }
            self.started = Instant::now();
            self.bytes = 0;
        }
        Ok(n)
    }
}

/// Whether an I/O error of a body read is a timeout: a read that stalled past the
/// agent's per-read timeout, or a body under [`MIN_PACE`].
pub(super) fn is_body_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    ) || error
        .get_ref()
        .and_then(|e| e.downcast_ref::<ureq::Error>())
        .is_some_and(is_timeout)
}

/// Whether a transport error is a timeout.
fn is_timeout(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(e) => is_body_timeout(e),
        _ => false,
    }
}

/// Counts bytes read for the progress callback.
struct ProgressReader<R> {
    inner: R,
    progress: Arc<dyn Progress>,
    digest: Digest,
    done: u64,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.progress.blob_progress(&self.digest, self.done);
        Ok(n)
    }
}

/// The certificates of a PEM file, as the only trusted roots.
fn read_ca_file(path: &Path) -> Result<RootCerts, RegistryError> {
    let pem = std::fs::read(path).map_err(|source| RegistryError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => {
                return Err(RegistryError::CaFile {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
            }
        }
    }
    if certs.is_empty() {
        return Err(RegistryError::CaFile {
            path: path.to_owned(),
            reason: "no PEM certificate in it".into(),
        });
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// `localhost`, `127.0.0.0/8` or `[::1]`, with or without a port.
fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => name,
        _ => host,
    };
    name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Statuses worth another try: overload and server-side failures.
fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Transport failures worth another try: broken or refused connections and timeouts.
pub(super) fn retryable_error(error: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match error {
        ureq::Error::Io(e) => matches!(
            e.kind(),
            ConnectionReset
                | ConnectionAborted
                | ConnectionRefused
                | BrokenPipe
                | UnexpectedEof
                | TimedOut
                | Interrupted
                | NotConnected
                | WouldBlock
        ),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// A one-line description of a transport error.
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// `CODE: message` of a registry error body (`{"errors":[{"code","message"}]}`), else the
/// body's first line.
fn registry_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let errors = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array());
    if let Some(errors) = errors {
        let field = |e: &serde_json::Value, k: &str| {
            e.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        return errors
            .iter()
            .map(|e| format!("{}: {}", field(e, "code"), field(e, "message")))
            .collect::<Vec<_>>()
            .join("; ");
    }
    body.lines().next().unwrap_or_default().trim().to_owned()
}

/// Percent-encodes everything but unreserved characters (for query values).
pub(super) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "127.1.2.3",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "example.com",
            "10.0.0.1:5000",
            "[::2]:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let transport = Transport::new(RegistryOptions::default(), Arc::default()).unwrap();
        let base = transport.options().backoff;
        for attempt in 1..=12 {
            let delay = transport.backoff(attempt, None);
            let full = base.saturating_mul(1 << (attempt - 1)).min(MAX_BACKOFF);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        assert_eq!(
            transport.backoff(1, Some(Duration::from_secs(600))),
            MAX_BACKOFF
        );
    }

    #[test]
    fn registry_errors_are_summarised() {
        assert_eq!(
            registry_message(
                r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#
            ),
            "BLOB_UNKNOWN: blob unknown to registry"
        );
        assert_eq!(registry_message("plain text\nmore"), "plain text");
        assert_eq!(
            percent_encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
