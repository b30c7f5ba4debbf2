//! The cause kept inside a port error, and how a whole chain of causes is printed.
//!
//! Port errors keep the adapter's own error (an I/O error, an HTTP client error) as their
//! `source()`, not a flattened string, so that code can inspect it and a log shows every link.

use std::error::Error;
use std::fmt;

/// Any error an adapter reports as the cause of a port error. A `&str` or a `String` converts
/// too, for failures that have no underlying error.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Prints an error and each of its sources, `: `-separated. A source whose text is already
/// printed (errors that repeat their cause in their own message) is skipped.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut printed = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !text.is_empty() && !printed.contains(&text) {
                printed.push_str(": ");
                printed.push_str(&text);
            }
            source = cause.source();
        }
        f.write_str(&printed)
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The text of `cause` followed by its sources, for the message of a port error that keeps it.
pub(crate) fn describe(cause: &BoxError) -> ErrorChain<'_> {
    ErrorChain(cause.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write the card")]
    struct Quiet(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("storage failed: {0}")]
    struct Repeating(#[source] Quiet);

    #[test]
    fn every_link_is_printed_once() {
        let error = Repeating(Quiet(std::io::Error::other("disk full")));
        assert_eq!(
            ErrorChain(&error).to_string(),
            "storage failed: cannot write the card: disk full"
        );
    }
}
