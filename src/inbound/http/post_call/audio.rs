//! The `full_audio` string of a staged `post_call_audio` event, base64-decoded as it is read,
//! so that a recording of any length is stored with a small, fixed amount of memory.

use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::Path;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine};
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::core::ports::ByteStream;

const READ_CHUNK: usize = 64 * 1024;

/// The standard alphabet; the final group may or may not be padded.
const STANDARD_PADDING_OPTIONAL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why the audio is not base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid base64")]
pub struct InvalidBase64;

impl From<InvalidBase64> for io::Error {
    fn from(error: InvalidBase64) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

/// Decodes base64 given in pieces of any size: whole 4-symbol groups are decoded at once, the
/// rest is carried to the next piece. The input is the raw content of a JSON string, so the
/// escaped slash `\/` (which some JSON writers emit) is read as `/`; any other escape is invalid.
#[derive(Debug, Default)]
pub struct Base64Decoder {
    carry: Vec<u8>,
    escape_pending: bool,
    /// A group with `=` padding has been decoded: the data is over.
    ended: bool,
}

impl Base64Decoder {
    pub fn feed(&mut self, piece: &[u8]) -> Result<Bytes, InvalidBase64> {
        let mut symbols = std::mem::take(&mut self.carry);
        symbols.reserve(piece.len());
        for &byte in piece {
            match (self.escape_pending, byte) {
                (true, b'/') => {
                    self.escape_pending = false;
                    symbols.push(b'/');
                }
                (true, _) => return Err(InvalidBase64),
                (false, b'\\') => self.escape_pending = true,
                (false, _) => symbols.push(byte),
            }
        }
        if self.ended && !symbols.is_empty() {
            return Err(InvalidBase64);
        }
        let whole_groups = symbols.len() / 4 * 4;
        let decoded = decode(&symbols[..whole_groups])?;
        self.ended = symbols[..whole_groups].last() == Some(&b'=');
        self.carry = symbols.split_off(whole_groups);
        Ok(decoded)
    }

    /// Decodes what is left: a final group may lack its padding.
    pub fn finish(self) -> Result<Bytes, InvalidBase64> {
        if self.escape_pending || (self.ended && !self.carry.is_empty()) {
            return Err(InvalidBase64);
        }
        decode(&self.carry)
    }
}

fn decode(symbols: &[u8]) -> Result<Bytes, InvalidBase64> {
    let mut decoded = Vec::with_capacity(symbols.len() / 4 * 3);
    STANDARD_PADDING_OPTIONAL
        .decode_vec(symbols, &mut decoded)
        .map_err(|_| InvalidBase64)?;
    Ok(Bytes::from(decoded))
}

/// The decoded bytes of `range` of the file at `path` (the content of the `full_audio` string).
/// Invalid base64 ends the stream with an [`io::ErrorKind::InvalidData`] error.
pub async fn decoded_audio(path: &Path, range: Range<u64>) -> io::Result<ByteStream> {
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(SeekFrom::Start(range.start)).await?;
    let encoded = ReaderStream::with_capacity(file.take(range.end - range.start), READ_CHUNK);
    let state = (encoded, Some(Base64Decoder::default()));
    let decoded = stream::unfold(state, |(mut encoded, mut decoder)| async move {
        let active = decoder.as_mut()?;
        let step = match encoded.next().await {
            Some(Ok(piece)) => active.feed(&piece).map_err(io::Error::from),
            Some(Err(error)) => Err(error),
            None => decoder.take()?.finish().map_err(io::Error::from),
        };
        if step.is_err() {
            decoder = None;
        }
        Some((step, (encoded, decoder)))
    });
    Ok(decoded
        .filter(|step| std::future::ready(!matches!(step, Ok(bytes) if bytes.is_empty())))
        .boxed())
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    /// Feeds `encoded` in pieces of `size` bytes and returns everything decoded.
    fn decode_in_pieces(encoded: &[u8], size: usize) -> Result<Vec<u8>, InvalidBase64> {
        let mut decoder = Base64Decoder::default();
        let mut decoded = Vec::new();
        for piece in encoded.chunks(size) {
            decoded.extend_from_slice(&decoder.feed(piece)?);
        }
        decoded.extend_from_slice(&decoder.finish()?);
        Ok(decoded)
    }

    #[test]
    fn audio_decodes_identically_whatever_the_piece_sizes() {
        let audio: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for length in [0, 1, 2, 3, 998, 999, 1000] {
            let encoded = STANDARD.encode(&audio[..length]);
            for size in [1, 2, 3, 4, 5, 7, 64, 4096] {
                let decoded = decode_in_pieces(encoded.as_bytes(), size);
                assert_eq!(
                    decoded.as_deref(),
                    Ok(&audio[..length]),
                    "{length} by {size}"
                );
            }
        }
    }

    #[test]
    fn json_escaped_slashes_are_read_as_slashes_even_when_split() {
        let audio = [0xff_u8, 0xfb, 0x90, 0x64, 0xff, 0xff];
        let escaped = STANDARD.encode(audio).replace('/', "\\/");
        assert!(escaped.contains("\\/"));
        for size in 1..=escaped.len() {
            let decoded = decode_in_pieces(escaped.as_bytes(), size);
            assert_eq!(decoded.as_deref(), Ok(&audio[..]), "by {size}");
        }
    }

    #[test]
    fn anything_but_standard_base64_is_invalid() {
        for bad in [
            "SUQz!AAA",     // not in the alphabet
            "SUQz-_AA",     // URL-safe alphabet
            "SUQ=SUQz",     // padding before the end
            "SUQzB",        // one symbol too many
            "SUQz\\nAAA",   // a JSON escape other than \/
            "SUQz\\",       // a dangling escape
            "SUQzBA==BA==", // data after the end
        ] {
            for size in [1, 3, 4, 64] {
                assert_eq!(
                    decode_in_pieces(bad.as_bytes(), size),
                    Err(InvalidBase64),
                    "{bad:?} by {size}"
                );
            }
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Cuts `text` at `cuts` (positions taken modulo its length) and decodes it piece by piece.
        fn decode_cut(text: &[u8], cuts: &[usize]) -> Result<Vec<u8>, InvalidBase64> {
            let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (text.len() + 1)).collect();
            points.extend([0, text.len()]);
            points.sort_unstable();
            let mut decoder = Base64Decoder::default();
            let mut decoded = Vec::new();
            for window in points.windows(2) {
                decoded.extend_from_slice(&decoder.feed(&text[window[0]..window[1]])?);
            }
            decoded.extend_from_slice(&decoder.finish()?);
            Ok(decoded)
        }

        /// The reference: the base64 crate over the whole text, once `\/` is unescaped.
        fn reference(text: &[u8]) -> Option<Vec<u8>> {
            let mut unescaped = Vec::with_capacity(text.len());
            let mut bytes = text.iter();
            while let Some(&byte) = bytes.next() {
                match byte {
                    b'\\' if bytes.next() == Some(&b'/') => unescaped.push(b'/'),
                    b'\\' => return None,
                    _ => unescaped.push(byte),
                }
            }
            STANDARD_PADDING_OPTIONAL.decode(unescaped).ok()
        }

        proptest! {
            #[test]
            fn any_audio_cut_anywhere_decodes_to_itself(
                audio in proptest::collection::vec(any::<u8>(), 0..3000),
                cuts in proptest::collection::vec(any::<usize>(), 0..12),
                escape_slashes in any::<bool>(),
                padded in any::<bool>(),
            ) {
                let mut encoded = STANDARD.encode(&audio);
                if !padded {
                    encoded = encoded.trim_end_matches('=').to_owned();
                }
                if escape_slashes {
                    encoded = encoded.replace('/', "\\/");
                }
                prop_assert_eq!(decode_cut(encoded.as_bytes(), &cuts), Ok(audio));
            }

            #[test]
            fn any_text_cut_anywhere_decodes_like_the_reference_or_is_refused(
                text in "[A-Za-z0-9+/=\\\\!\\- ]{0,64}",
                cuts in proptest::collection::vec(any::<usize>(), 0..8),
            ) {
                let ours = decode_cut(text.as_bytes(), &cuts).ok();
                prop_assert_eq!(ours, reference(text.as_bytes()));
            }

            #[test]
            fn any_bytes_cut_anywhere_decode_like_the_reference_or_are_refused(
                bytes in proptest::collection::vec(any::<u8>(), 0..64),
                cuts in proptest::collection::vec(any::<usize>(), 0..8),
            ) {
                prop_assert_eq!(decode_cut(&bytes, &cuts).ok(), reference(&bytes));
            }
        }
    }

    #[tokio::test]
    async fn a_range_of_a_file_streams_out_decoded() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("event.json");
        let audio: Vec<u8> = (0..200_000u32).map(|n| (n % 251) as u8).collect();
        let body = format!("{{\"full_audio\":\"{}\"}}", STANDARD.encode(&audio));
        std::fs::write(&path, &body).unwrap();
        let start = body.find("\":\"").unwrap() as u64 + 3;
        let end = body.len() as u64 - 2;

        let mut stream = decoded_audio(&path, start..end).await.unwrap();
        let mut decoded = Vec::new();
        while let Some(piece) = stream.next().await {
            decoded.extend_from_slice(&piece.unwrap());
        }
        assert_eq!(decoded, audio);
    }

    #[tokio::test]
    async fn invalid_base64_in_a_file_ends_the_stream_with_invalid_data() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("event.json");
        std::fs::write(&path, "SUQz%%%%").unwrap();
        let mut stream = decoded_audio(&path, 0..8).await.unwrap();
        let mut last = None;
        while let Some(piece) = stream.next().await {
            last = Some(piece);
        }
        let error = last.expect("an item").expect_err("an error");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
