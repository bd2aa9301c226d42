//! Who may do what: tenant ids and the scopes of API keys.

/// Most characters of a tenant id.
pub const MAX_TENANT_CHARS: usize = 63;

/// Whether `id` is a valid tenant id: 1–63 of lowercase letters, digits,
/// `-` and `_`, starting with a letter or digit. The shape keeps tenant ids
/// safe inside callback tokens (no dots) and in URLs and logs.
pub fn is_valid_tenant_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.len() <= MAX_TENANT_CHARS
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// What an API key may do. Each scope allows a fixed set of operations
/// (see [`KeyScope::allows`]); they are not ordered by rank, except that
/// `admin` allows everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyScope {
    /// Get, List, Stream and Estimate calls.
    Read,
    /// Everything but key management (includes `read` and `worker`).
    Write,
    /// The worker protocol only (WorkerService), for worker processes.
    Worker,
    /// Everything, key management included.
    Admin,
}

/// The kind of operation a call is, which decides the scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Calls that change nothing: Get, List, Stream, Estimate (and Diff,
    /// Validate).
    Read,
    /// Everything else outside the worker protocol and key management.
    Write,
    /// A call of the worker protocol that changes state (register, poll,
    /// complete, fail, heartbeat).
    Work,
    /// A read of the worker protocol (list workers): `read` and `worker`
    /// keys both may.
    WorkRead,
    /// Key and secret management.
    Manage,
}

impl KeyScope {
    /// Every scope, in the order they are documented.
    pub const ALL: [KeyScope; 4] = [KeyScope::Read, KeyScope::Write, KeyScope::Worker, KeyScope::Admin];

    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Read => "read",
            KeyScope::Write => "write",
            KeyScope::Worker => "worker",
            KeyScope::Admin => "admin",
        }
    }

    /// The scope named `text`, if any.
    pub fn parse(text: &str) -> Option<KeyScope> {
        KeyScope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    /// Whether a key of this scope may perform `operation`.
    pub fn allows(self, operation: Operation) -> bool {
        match (self, operation) {
            (KeyScope::Admin, _) => true,
            (KeyScope::Write, Operation::Manage) => false,
            (KeyScope::Write, Operation::Read | Operation::Write | Operation::Work | Operation::WorkRead) => true,
            (KeyScope::Read, Operation::Read | Operation::WorkRead) => true,
            (KeyScope::Read, Operation::Write | Operation::Work | Operation::Manage) => false,
            (KeyScope::Worker, Operation::Work | Operation::WorkRead) => true,
            (KeyScope::Worker, Operation::Read | Operation::Write | Operation::Manage) => false,
        }
    }
}

impl std::fmt::Display for KeyScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_short_lowercase_words() {
        for ok in ["default", "acme", "t2", "a-b_c", "0team"] {
            assert!(is_valid_tenant_id(ok), "{ok}");
        }
        let long = "a".repeat(MAX_TENANT_CHARS + 1);
        for bad in ["", "Acme", "-a", "_a", "a.b", "a b", "ä", long.as_str()] {
            assert!(!is_valid_tenant_id(bad), "{bad}");
        }
    }

    #[test]
    fn scopes_allow_their_operations_only() {
        use Operation::*;
        let allowed = |scope: KeyScope| -> Vec<Operation> {
            [Read, Write, Work, WorkRead, Manage].into_iter().filter(|op| scope.allows(*op)).collect()
        };
        assert_eq!(allowed(KeyScope::Read), vec![Read, WorkRead]);
        assert_eq!(allowed(KeyScope::Worker), vec![Work, WorkRead]);
        assert_eq!(allowed(KeyScope::Write), vec![Read, Write, Work, WorkRead]);
        assert_eq!(allowed(KeyScope::Admin), vec![Read, Write, Work, WorkRead, Manage]);
        for scope in KeyScope::ALL {
            assert_eq!(KeyScope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(KeyScope::parse("Admin"), None);
    }
}
