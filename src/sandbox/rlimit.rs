//! What `build --add-host`, `--shm-size` and `--ulimit` change in every RUN's sandbox
//! ([`SandboxOptions`]): extra `/etc/hosts` lines ([`HostEntry`]), the size of `/dev/shm`,
//! and resource limits set on the command before it starts ([`Ulimit`], docker's names).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The build-wide settings of every RUN's sandbox, beside its image and command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxOptions {
    /// Lines added to `/etc/hosts` (`--add-host`), after the host's own.
    pub extra_hosts: Vec<HostEntry>,
    /// Size of the `/dev/shm` tmpfs in bytes (`--shm-size`); `None`: 64 MiB, as docker.
    pub shm_size: Option<u64>,
    /// Resource limits of the command (`--ulimit`).
    pub ulimits: Vec<Ulimit>,
}

/// One `/etc/hosts` line: a host name and its address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    /// The name.
    pub name: String,
    /// Its address.
    pub ip: IpAddr,
}

impl HostEntry {
    /// Parses docker's `HOST:IP` or `HOST=IP` (an IPv6 address may be in brackets).
    /// `host-gateway` is refused: a build in the host's network has no gateway of its own.
    pub fn parse(value: &str) -> Result<HostEntry, String> {
        let (name, ip) = value
            .split_once('=')
            .or_else(|| value.split_once(':'))
            .ok_or_else(|| format!("--add-host {value:?}: expected HOST:IP"))?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("--add-host {value:?}: {name:?} is not a host name"));
        }
        if ip == "host-gateway" {
            return Err(format!(
                "--add-host {value:?}: host-gateway is not supported: RUN shares the host's network, so the host is 127.0.0.1"
            ));
        }
        let bare = ip
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .unwrap_or(ip);
        let ip = bare
            .parse()
            .map_err(|_| format!("--add-host {value:?}: {ip:?} is not an IP address"))?;
        Ok(HostEntry {
            name: name.to_owned(),
            ip,
        })
    }
}

/// The resource names docker's `--ulimit` takes, with their `RLIMIT_*` numbers.
const RESOURCES: [(&str, libc::__rlimit_resource_t); 15] = [
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// One resource limit: `nofile=1024:2048` sets the soft limit 1024 and the hard 2048.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// docker's name of the resource (`nofile`, `nproc`, ...).
    pub name: String,
    /// The soft limit (`u64::MAX`: unlimited).
    pub soft: u64,
    /// The hard limit (`u64::MAX`: unlimited).
    pub hard: u64,
}

impl Ulimit {
    /// Parses `NAME=SOFT[:HARD]` as docker does: one number sets both, `-1` is unlimited,
    /// and the soft limit may not exceed the hard one.
    pub fn parse(value: &str) -> Result<Ulimit, String> {
        let (name, limits) = value
            .split_once('=')
            .ok_or_else(|| format!("--ulimit {value:?}: expected NAME=SOFT[:HARD]"))?;
        if !RESOURCES.iter().any(|(n, _)| *n == name) {
            let names: Vec<&str> = RESOURCES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "--ulimit {value:?}: unknown resource {name:?} (one of {})",
                names.join(", ")
            ));
        }
        let number = |text: &str| match text {
            "-1" => Ok(u64::MAX),
            _ => text
                .parse::<u64>()
                .map_err(|_| format!("--ulimit {value:?}: {text:?} is not a limit")),
        };
        let (soft, hard) = match limits.split_once(':') {
            Some((soft, hard)) => (number(soft)?, number(hard)?),
            None => (number(limits)?, number(limits)?),
        };
        if soft > hard {
            return Err(format!(
                "--ulimit {value:?}: the soft limit is above the hard limit"
            ));
        }
        Ok(Ulimit {
            name: name.to_owned(),
            soft,
            hard,
        })
    }

    /// Sets the limit on the calling process (inherited by what it execs).
    pub(super) fn apply(&self) -> Result<(), String> {
        let resource = RESOURCES
            .iter()
            .find(|(n, _)| *n == self.name)
            .map(|(_, r)| *r)
            .ok_or_else(|| format!("unknown resource {:?}", self.name))?;
        let limit = |v: u64| {
            if v == u64::MAX {
                libc::RLIM_INFINITY
            } else {
                v
            }
        };
        let rlimit = libc::rlimit {
            rlim_cur: limit(self.soft),
            rlim_max: limit(self.hard),
        };
        // SAFETY: a plain syscall on a value of this function.
        if unsafe { libc::setrlimit(resource, &rlimit) } < 0 {
            return Err(format!(
                "setting ulimit {}={}:{}: {}",
                self.name,
                self.soft,
                self.hard,
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_take_docker_forms() {
        let entry = HostEntry::parse("db:10.0.0.2").unwrap();
        assert_eq!(
            (entry.name.as_str(), entry.ip.to_string()),
            ("db", "10.0.0.2".into())
        );
        let v6 = HostEntry::parse("v6=[2001:db8::1]").unwrap();
        assert_eq!(v6.ip.to_string(), "2001:db8::1");
        assert_eq!(HostEntry::parse("v6:2001:db8::1").unwrap().ip, v6.ip);
        assert!(HostEntry::parse("db").is_err());
        assert!(HostEntry::parse("db:nope").is_err());
        assert!(HostEntry::parse("gw:host-gateway")
            .unwrap_err()
            .contains("host-gateway"));
    }

    #[test]
    fn ulimits_take_docker_forms() {
        let u = Ulimit::parse("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        let u = Ulimit::parse("core=-1").unwrap();
        assert_eq!((u.soft, u.hard), (u64::MAX, u64::MAX));
        assert!(Ulimit::parse("files=1")
            .unwrap_err()
            .contains("unknown resource"));
        assert!(Ulimit::parse("nofile=2:1").is_err());
        assert!(Ulimit::parse("nofile").is_err());
        assert!(Ulimit::parse("nofile=x").is_err());
    }
}
