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

/// The cosine similarity of `wanted` and a stored vector, read in place (stored vectors are
/// unit-length, as every [`Embedding`] is); 0.0 when the sizes differ.
pub(crate) fn similarity(wanted: &Embedding, stored: &[u8]) -> f32 {
    let values = wanted.values();
    if stored.len() != values.len() * 4 {
        return 0.0;
    }
    stored
        .chunks_exact(4)
        .zip(values)
        .map(|(bytes, value)| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) * value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_vector_compares_like_the_embedding_it_came_from() {
        let left = Embedding::new(vec![3.0, 4.0, 0.0]);
        let right = Embedding::new(vec![1.0, 2.0, 2.0]);
        let stored = to_bytes(&right);
        assert!((similarity(&left, &stored) - left.similarity(&right)).abs() < 1e-6);
        assert_eq!(similarity(&left, &stored[..8]), 0.0);
    }
}
