//! Two things about a body that the JSON check before archiving does not catch, learnt while the
//! body streams in: whether it is UTF-8 (JSON must be, but the validator skips the bytes inside
//! strings it ignores) and whether it nests deeper than any real event (the validator has no
//! depth limit for values it ignores, and whoever reads the archive later might).

/// Deeper nesting than this is refused; ElevenLabs events nest a handful of levels.
pub const MAX_DEPTH: usize = 64;

/// What is wrong with a body's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("not valid UTF-8")]
    NotUtf8,
    #[error("nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Follows a body given in pieces of any size.
#[derive(Debug, Default)]
pub struct ShapeCheck {
    /// The start of a UTF-8 sequence cut at the end of the last piece.
    carry: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    problem: Option<ShapeError>,
}

impl ShapeCheck {
    pub fn update(&mut self, piece: &[u8]) {
        if self.problem.is_some() {
            return;
        }
        self.check_utf8(piece);
        self.follow_piece(piece);
    }

    /// The first problem found, once the whole body has been given.
    pub fn finish(self) -> Result<(), ShapeError> {
        match (self.problem, self.carry.is_empty()) {
            (Some(problem), _) => Err(problem),
            (None, false) => Err(ShapeError::NotUtf8),
            (None, true) => Ok(()),
        }
    }

    fn check_utf8(&mut self, mut piece: &[u8]) {
        // First finish the character cut at the end of the last piece, byte by byte.
        while !self.carry.is_empty() {
            let Some((&byte, rest)) = piece.split_first() else {
                return;
            };
            self.carry.push(byte);
            piece = rest;
            match std::str::from_utf8(&self.carry) {
                Ok(_) => self.carry.clear(),
                Err(error) if error.error_len().is_some() => return self.fail(ShapeError::NotUtf8),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(piece) {
            Ok(_) => {}
            // A character cut at the end of the piece: the next piece may finish it.
            Err(error) if error.error_len().is_none() => {
                self.carry = piece[error.valid_up_to()..].to_vec();
            }
            Err(_) => self.fail(ShapeError::NotUtf8),
        }
    }

    fn follow_piece(&mut self, mut piece: &[u8]) {
        while let Some(&first) = piece.first() {
            if self.in_string && !self.escaped {
                // Most of a body is string content (all of an audio event): skip to what ends
                // or escapes it in one pass.
                let Some(at) = piece.iter().position(|&b| b == b'"' || b == b'\\') else {
                    return;
                };
                self.follow(piece[at]);
                piece = &piece[at + 1..];
            } else {
                self.follow(first);
                piece = &piece[1..];
            }
        }
    }

    fn follow(&mut self, byte: u8) {
        if self.in_string {
            match (self.escaped, byte) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                _ => {}
            }
            return;
        }
        match byte {
            b'"' => self.in_string = true,
            b'[' | b'{' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    self.fail(ShapeError::TooDeep);
                }
            }
            b']' | b'}' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
    }

    fn fail(&mut self, problem: ShapeError) {
        self.problem.get_or_insert(problem);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn check_cut(body: &[u8], cuts: &[usize]) -> Result<(), ShapeError> {
        let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (body.len() + 1)).collect();
        points.extend([0, body.len()]);
        points.sort_unstable();
        let mut check = ShapeCheck::default();
        for window in points.windows(2) {
            check.update(&body[window[0]..window[1]]);
        }
        check.finish()
    }

    #[test]
    fn nesting_counts_brackets_outside_strings_only() {
        let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert_eq!(check_cut(deep(MAX_DEPTH).as_bytes(), &[]), Ok(()));
        assert_eq!(
            check_cut(deep(MAX_DEPTH + 1).as_bytes(), &[7]),
            Err(ShapeError::TooDeep)
        );
        let in_strings = format!(r#"{{"a": "{}", "b": "\"[[[["}}"#, "[".repeat(500));
        assert_eq!(check_cut(in_strings.as_bytes(), &[3, 30]), Ok(()));
    }

    proptest! {
        #[test]
        fn any_bytes_cut_anywhere_are_utf8_exactly_when_the_standard_library_says_so(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            // Inside one string, so that brackets among the bytes do not count as nesting.
            let mut quoted = b"\"".to_vec();
            quoted.extend(bytes.iter().map(|&b| if b == b'"' || b == b'\\' { b'x' } else { b }));
            let expected = std::str::from_utf8(&quoted).map(|_| ()).map_err(|_| ShapeError::NotUtf8);
            prop_assert_eq!(check_cut(&quoted, &cuts), expected);
        }

        #[test]
        fn skipping_string_content_finds_the_same_nesting_as_reading_every_byte(
            body in "[\\[\\]{}\"\\\\ a]{0,200}",
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut byte_by_byte = ShapeCheck::default();
            for &byte in body.as_bytes() {
                byte_by_byte.follow(byte);
            }
            let expected = byte_by_byte.problem.map_or(Ok(()), Err);
            prop_assert_eq!(check_cut(body.as_bytes(), &cuts), expected);
        }

        #[test]
        fn any_text_cut_anywhere_is_utf8(
            text in "\\PC{0,40}",
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let quoted = format!("\"{}\"", text.replace(['"', '\\'], ""));
            prop_assert_eq!(check_cut(quoted.as_bytes(), &cuts), Ok(()));
        }
    }
}
