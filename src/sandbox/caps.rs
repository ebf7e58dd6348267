//! Capabilities: the set a sandboxed command keeps ([`DEFAULT_CAPABILITIES`], docker's
//! default) and [`restrict`], which narrows the process to it before `execve`.

use rustix::thread::CapabilitySet;

/// The capabilities a RUN step (and `strata run`) keeps: docker's default set, which
/// BuildKit's RUN gets from containerd's default spec (`defaultUnixCaps`), `CapBnd`
/// `00000000a80425fb` in `/proc/self/status`.
pub(super) const DEFAULT_CAPABILITIES: CapabilitySet = CapabilitySet::CHOWN
    .union(CapabilitySet::DAC_OVERRIDE)
    .union(CapabilitySet::FSETID)
    .union(CapabilitySet::FOWNER)
    .union(CapabilitySet::MKNOD)
    .union(CapabilitySet::NET_RAW)
    .union(CapabilitySet::SETGID)
    .union(CapabilitySet::SETUID)
    .union(CapabilitySet::SETFCAP)
    .union(CapabilitySet::SETPCAP)
    .union(CapabilitySet::NET_BIND_SERVICE)
    .union(CapabilitySet::SYS_CHROOT)
    .union(CapabilitySet::KILL)
    .union(CapabilitySet::AUDIT_WRITE);

/// Narrows this process to [`DEFAULT_CAPABILITIES`] as runc does for BuildKit's spec:
/// every other capability leaves the bounding set, the permitted and effective sets are
/// the default set, the inheritable and ambient sets are empty (containerd sets no
/// inheritable capabilities since CVE-2022-24769). Runs as root, before the switch to the
/// USER: dropping from the bounding set needs `SETPCAP`, `setgroups` needs `SETGID`. A
/// non-root USER then loses the permitted and effective sets at `setuid`, and `execve`
/// gives root back exactly the bounding set.
pub(super) fn restrict() -> Result<(), String> {
    use rustix::io::Errno;
    use rustix::thread::{
        capability_is_in_bounding_set, clear_ambient_capability_set,
        remove_capability_from_bounding_set, set_capabilities, CapabilitySets,
    };
    for bit in 0..u64::BITS {
        let cap = CapabilitySet::from_bits_retain(1 << bit);
        if DEFAULT_CAPABILITIES.contains(cap) {
            continue;
        }
        match capability_is_in_bounding_set(cap) {
            Ok(true) => remove_capability_from_bounding_set(cap)
                .map_err(|e| format!("dropping capability {bit} from the bounding set: {e}"))?,
            Ok(false) => {}
            // Past the kernel's last capability.
            Err(Errno::INVAL) => break,
            Err(e) => return Err(format!("reading the capability bounding set: {e}")),
        }
    }
    match clear_ambient_capability_set() {
        // Kernels before 4.3 have no ambient set.
        Ok(()) | Err(Errno::INVAL) => {}
        Err(e) => return Err(format!("clearing the ambient capabilities: {e}")),
    }
    set_capabilities(
        None,
        CapabilitySets {
            effective: DEFAULT_CAPABILITIES,
            permitted: DEFAULT_CAPABILITIES,
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(|e| format!("setting the capabilities: {e}"))
}
