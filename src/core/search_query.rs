//! What the agent asks for when it searches a caller's memories.

/// A search text: trimmed, non-empty and at most [`SearchQuery::MAX_CHARS`] characters.
///
/// It is plain user text; every memory store must treat it as data, never as query syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSearchQuery {
    #[error("query is empty")]
    Empty,
    #[error("query is longer than {} characters", SearchQuery::MAX_CHARS)]
    TooLong,
}

impl SearchQuery {
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(raw: &str) -> Result<Self, InvalidSearchQuery> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidSearchQuery::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(InvalidSearchQuery::TooLong);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many memories a search returns: 1 to [`SearchLimit::MAX`], [`SearchLimit::DEFAULT`] when
/// unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchLimit(usize);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between 1 and {}", SearchLimit::MAX)]
pub struct InvalidSearchLimit;

impl SearchLimit {
    pub const DEFAULT: SearchLimit = SearchLimit(5);
    pub const MAX: usize = 20;

    pub fn new(limit: i64) -> Result<Self, InvalidSearchLimit> {
        match usize::try_from(limit) {
            Ok(value) if (1..=Self::MAX).contains(&value) => Ok(Self(value)),
            _ => Err(InvalidSearchLimit),
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for SearchLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_oversized_queries_are_rejected() {
        assert_eq!(SearchQuery::parse("  \n"), Err(InvalidSearchQuery::Empty));
        assert_eq!(
            SearchQuery::parse(&"é".repeat(1001)),
            Err(InvalidSearchQuery::TooLong)
        );
        assert_eq!(SearchQuery::parse(" jazz ").unwrap().as_str(), "jazz");
    }

    #[test]
    fn limits_outside_one_to_twenty_are_rejected() {
        assert!(SearchLimit::new(0).is_err());
        assert!(SearchLimit::new(21).is_err());
        assert!(SearchLimit::new(-1).is_err());
        assert_eq!(SearchLimit::new(20).unwrap().get(), 20);
        assert_eq!(SearchLimit::default().get(), 5);
    }
}
