//! Embeddings as bytes, as the SQL stores keep them (a SQLite BLOB, a Postgres `bytea`): the
//! vector's `f32` values, little-endian, one after the other.

use crate::core::Embedding;

pub(crate) fn to_bytes(embedding: &Embedding) -> Vec<u8> {
    embedding
        .values()
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

/// Compares one embedding with many stored vectors, reading each into the same buffer so that
/// scanning a caller's thousands of vectors allocates once.
pub(crate) struct Comparison<'a> {
    wanted: &'a Embedding,
    stored: Vec<f32>,
}

impl<'a> Comparison<'a> {
    pub(crate) fn new(wanted: &'a Embedding) -> Self {
        Self {
            wanted,
            stored: Vec::with_capacity(wanted.dimensions()),
        }
    }

    /// The cosine similarity of the wanted embedding and a stored vector (stored vectors are
    /// unit-length, as every [`Embedding`] is); 0.0 when the sizes differ.
    pub(crate) fn similarity(&mut self, stored: &[u8]) -> f32 {
        if stored.len() != self.wanted.dimensions() * 4 {
            return 0.0;
        }
        self.stored.clear();
        self.stored.extend(
            stored
                .chunks_exact(4)
                .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
        );
        self.wanted.similarity_to_values(&self.stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_vector_compares_like_the_embedding_it_came_from() {
        let left = Embedding::new(vec![3.0, 4.0, 0.0]);
        let right = Embedding::new(vec![1.0, 2.0, 2.0]);
        let other = Embedding::new(vec![1.0, 0.0, 0.0]);
        let mut comparison = Comparison::new(&left);
        assert_eq!(
            comparison.similarity(&to_bytes(&right)),
            left.similarity(&right)
        );
        assert_eq!(
            comparison.similarity(&to_bytes(&other)),
            left.similarity(&other)
        );
        assert_eq!(comparison.similarity(&to_bytes(&right)[..8]), 0.0);
    }
}
