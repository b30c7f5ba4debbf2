//! Which running process of the service this is.

use std::fmt;

/// Names one running instance of the service: chosen at start, different at every start, so a
/// restarted process never mistakes a claim of its previous life for its own. It also names the
/// instance's own staging folder, so it is a safe path segment (`[a-z0-9-]`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    /// A new random id (16 hex digits).
    pub fn generate() -> Self {
        Self(format!("{:016x}", rand::random::<u64>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({})", self.0)
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_start_gets_another_id_that_is_a_safe_folder_name() {
        let (first, second) = (InstanceId::generate(), InstanceId::generate());
        assert_ne!(first, second);
        assert_eq!(first.as_str().len(), 16);
        assert!(first.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
