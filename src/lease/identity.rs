//! Who this process is in the lease: a name for people and a token for conditions.

use std::hash::{BuildHasher, Hasher};

use super::item::Claimant;

/// `--replica-id` when given; otherwise the pod or host name and the process id, which tell
/// replicas apart in `status` and logs.
pub fn replica_identity(configured: Option<&str>) -> String {
    match configured.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => id.to_owned(),
        None => format!("{}-{}", host_name(), std::process::id()),
    }
}

/// The pod name in Kubernetes (its hostname), the host name elsewhere.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// A claimant for this process: `identity`, and a token no other process has (the pid, the
/// time and the standard library's per-process random hash keys), so that two processes that
/// share a name, or a process restarted under the same name, never count as one.
pub fn claimant(identity: String) -> Claimant {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    let token = format!("{:x}-{:016x}", std::process::id(), hasher.finish());
    Claimant::new(identity, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_identity_wins_and_tokens_differ_per_claimant() {
        assert_eq!(replica_identity(Some(" pod-a ")), "pod-a");
        let derived = replica_identity(None);
        assert!(
            derived.ends_with(&format!("-{}", std::process::id())),
            "{derived}"
        );
        assert_eq!(replica_identity(Some("  ")), derived);
        let (a, b) = (claimant("x".into()), claimant("x".into()));
        assert_eq!(a.identity, b.identity);
        assert!(
            !a.is(&b),
            "two claimants of one name must not be taken for one another"
        );
    }
}
